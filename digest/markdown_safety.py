"""Record text is untrusted: keep a Markdown field's formatting, show a plain field as typed, never let either
carry HTML or script.

Markdown fields: `<` and `&` outside code and math become `&lt;` and `&amp;` (no tag or character reference can
open), attribute lists `{...}` are shown as typed, and links to `javascript:`/`data:`/`vbscript:` URLs are
defused. Plain fields (titles, venues, authors, table cells...) reach the generated Markdown through `finalize`,
the Jinja environment's finalizer: every character that Markdown or HTML would read as syntax becomes a numeric
character reference, which both Markdown and HTML show as the character itself. Glossary terms get an `<abbr>`
with their translation, which Material shows as a tooltip.

A paper's long Markdown fields reach the page as finished HTML (`record_html`): CommonMark, the Markdown that
GitHub renders, with its tables, converted by cmark-gfm (C) in a hundredth of the time Python-Markdown takes, and
math marked for MathJax as the site's arithmatex marks it. On every field of the twelve real records it gives the
HTML Python-Markdown gave (tests/test_render.py compares the two).
"""

from __future__ import annotations

import ctypes
import functools
import html
import posixpath
import re
import urllib.parse

import cmarkgfm
from cmarkgfm import _cmark as _cmark_module
from cmarkgfm.cmark import Options
from markupsafe import Markup

# Code fences, inline code, display math, inline math: passed through untouched (Markdown escapes code itself,
# arithmatex escapes math). In order: ```...```, ~~~...~~~, `...`, $$...$$, and $...$ whose `$` follows no
# backslash. Each alternative opens with its own character, and the lookbehind comes after the `$`, so that the
# regular expression engine skips from one ` ~ $ to the next instead of trying every position (4x faster).
PROTECTED = re.compile(r"(`(?:``.*?```|[^`\n]+`)|~~~.*?~~~|\$(?:\$.*?\$\$|(?<!\\\$)[^$\n]+\$))", re.S)
AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
# A line break between two CJK characters: Markdown would render it as a space, which Chinese text has none of.
# (The first character is matched and put back, `\1`: a pattern that opens with a lookbehind is tried at every
# position.)
CJK_BREAK = re.compile(r"([\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])[ \t]*\n[ \t]*(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])")
# Browsers drop tabs, line breaks and control characters inside a URL's scheme: `java\tscript:` is `javascript:`.
_GAP = r"[\s\x00-\x1f]*"
BAD_URL = re.compile(r"(\]\s*\(\s*(?:&lt;)?|\]:\s*(?:&lt;)?)(" + "|".join(_GAP.join(word) for word in ("javascript", "vbscript", "data"))
                     + r")" + _GAP + ":", re.I)
MATH_HREF = re.compile(r"(\\href\s*\{\s*)(" + "|".join(_GAP.join(w) for w in ("javascript", "vbscript", "data"))
                       + r")" + _GAP + ":", re.I)
# `{: onclick=... }` after a paragraph or heading would become an attribute (the attr_list extension).
ATTR_LIST = re.compile(r"\{")
# Everything Markdown (with this site's extensions) or HTML reads as syntax in running text, as character
# references. An underscore inside a word (`receptive_field.svg`) is no emphasis and stays, so file names in links
# still work: only one at a word's edge is replaced (a reference ends in `;`, so the edges stay where they were).
PLAIN_SPECIAL = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*{}[]()#!|<>&\"'$~"})
EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
URL = re.compile(r"(https?|mailto):[^\s]+", re.I)


def _escape_text(text: str) -> str:
    text = AUTOLINK.sub(lambda m: f"[{m.group(1)}]({m.group(1)})", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = text if text.isascii() else CJK_BREAK.sub(r"\1", text)
    text = ATTR_LIST.sub("&#123;", text)
    return BAD_URL.sub(lambda m: m.group(1) + "#blocked-", text)


def plain_text(text: str) -> str:
    """A plain field for running text, a table cell or an HTML attribute: shown exactly as typed, on one line."""
    text = " ".join(str(text).splitlines()).translate(PLAIN_SPECIAL)
    return EDGE_UNDERSCORE.sub("&#95;", text) if "_" in text else text


def url_text(url: str) -> str:
    """An http(s) URL for a Markdown link target or an attribute: characters that could end it are %-encoded."""
    return html.escape(urllib.parse.quote(url, safe=":/?#@!$&*+,;=%~-._"), quote=True)


def finalize(value):
    """The Jinja finalizer: trusted Markup passes, a URL is encoded as one, any other text becomes plain text."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return Markup(url_text(value) if URL.fullmatch(value) else plain_text(value))


class Interface(Markup):
    """An interface string (templates/strings.yaml): trusted, Markdown allowed; what is formatted or joined into
    it (a record's title, a tag's label) is finalized as plain text, not only HTML-escaped as by Markup."""

    @classmethod
    def escape(cls, s):
        value = finalize(s)
        return cls(value if isinstance(value, Markup) else Markup.escape(value))


def code_span(text: str) -> Markup:
    """`text` as inline code that it cannot close early (Markdown escapes code itself)."""
    text = " ".join(str(text).splitlines())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markup(f"{ticks}{pad}{text}{pad}{ticks}")


def defuse_math(math: str) -> str:
    """A formula whose `\\href` cannot lead to a script URL: MathJax would make it a link."""
    return MATH_HREF.sub(lambda m: m.group(1) + "#blocked-", math)


def safe_markdown(text: str, terms: dict[str, str] | None = None) -> str:
    """Markdown with HTML neutralised; the first use of each glossary term gets a tooltip."""
    parts = PROTECTED.split(text)
    pending = dict(terms or {})
    for i in range(1, len(parts), 2):  # odd indexes are code or math
        parts[i] = defuse_math(parts[i]) if parts[i].startswith("$") else parts[i]
    for i in range(0, len(parts), 2):  # even indexes are plain text, odd ones protected
        parts[i] = _escape_text(parts[i])
        if pending:
            parts[i] = _mark_terms(parts[i], pending)
    return "".join(parts)


# Where no tooltip goes: an earlier tooltip, a link, an escaped tag, a heading (`#` at a line's start, tested after
# the `#` so that each alternative opens with its character: see PROTECTED).
SKIP = re.compile(r"(<abbr [^>]*>.*?</abbr>|\[[^\]]*\]\([^)]*\)|&lt;\S*|#(?<=^#).*$)", re.M)


@functools.lru_cache(maxsize=4096)
def _term_pattern(term: str) -> tuple[re.Pattern, str | None]:
    """The term's pattern, and its case-folded form when matching ignores case (ASCII terms, on word bounds)."""
    if term.isascii():  # no word character or hyphen on either side; the term first, for speed (see PROTECTED)
        word = re.escape(term)
        return re.compile(rf"{word}(?<![\w-]{word})(?![\w-])", re.I), term.casefold()
    return re.compile(re.escape(term)), None


@functools.lru_cache(maxsize=4096)
def _term_key(term: str) -> str | None:
    """`_term_pattern(term)[1]` without compiling the pattern: a process compiles only the terms its texts hold (a
    page's worth of text holds a few of the glossary's hundred)."""
    return term.casefold() if term.isascii() else None


def _mark_terms(text: str, pending: dict[str, str]) -> str:
    """Wrap the first free occurrence of each pending term (not in a link, heading or earlier tooltip).

    One substring test per term keeps the regular expressions for the few terms the text contains; longer terms
    are placed first, and each placed tooltip is taken out of the free text the shorter ones search.
    """
    folded = None
    present = []
    for term in pending:
        key = _term_key(term)
        if key is None:
            if term in text:
                present.append(term)
        else:
            folded = text.casefold() if folded is None else folded
            if key in folded:
                present.append(term)
    if not present:
        return text
    free, start = [], 0  # spans of text outside links, headings and tooltips
    for skip in SKIP.finditer(text):
        free.append((start, skip.start()))
        start = skip.end()
    free.append((start, len(text)))
    placed = []
    for term in sorted(present, key=len, reverse=True):
        pattern = _term_pattern(term)[0]
        for i, (lo, hi) in enumerate(free):
            match = pattern.search(text[lo:hi])
            if match:
                at, end = lo + match.start(), lo + match.end()
                placed.append((at, end, html.escape(pending.pop(term), quote=True)))
                free[i:i + 1] = [(lo, at), (end, hi)]
                break
    out, start = [], 0
    for at, end, title in sorted(placed):
        out += [text[start:at], f'<abbr title="{title}">{text[at:end]}</abbr>']
        start = end
    return "".join(out) + text[start:]


_PYGMENTS_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def code_block(text: str) -> Markup:
    """A plain code block as finished HTML: what Python-Markdown and SuperFences (Pygments' text lexer) make of
    `fence(text, "text")`, so that the page's conversion need not (digest/pagecache.py passes it through).
    Python-Markdown drops STX/ETX, unifies line ends, expands tabs to 4 columns and empties lines of spaces;
    Pygments strips the line breaks at both ends, ends the text with one and escapes `&<>"'`."""
    text = text.rstrip().replace("\x02", "").replace("\x03", "").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"(?<=\n) +\n", "\n", "\n" + text.expandtabs(4))[1:].strip("\n") + "\n"
    return Markup('<div class="highlight"><pre><span></span><code>' + text.translate(_PYGMENTS_ESCAPES)
                  + "</code></pre></div>")


def fence(text: str, lang: str = "") -> str:
    """A fenced code block that `text` cannot close early (the fence is longer than any backtick run in it)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


# Code and math in a field converted by `record_html`: as PROTECTED, but inline math may cross a line break (not a
# blank line), as arithmatex's does.
CODE_OR_MATH = re.compile(r"(`(?:``.*?```|[^`\n]+`)|~~~.*?~~~|\$(?:\$.*?\$\$|(?<!\\\$)(?:[^$\n]|\n(?![ \t]*\n))+\$))",
                          re.S)
_SLOT = "\ue000{}\ue001"  # a formula's place while cmark converts the text around it (private-use characters)
_SLOT_PARAGRAPH = re.compile("<p>\ue000(\\d+)\ue001</p>")  # a formula that is a paragraph of its own
_SLOTS = re.compile("\ue000(\\d+)\ue001")
# The HTML of the page's finished Markdown fields (digest/pagecache.py passes them around Python-Markdown).
FIELD_OPEN, FIELD_CLOSE = '<div class="pd-md">\n', "</div>"


def record_html(text: str, terms: dict[str, str] | None = None, wrap: bool = True) -> Markup:
    """A Markdown field as finished HTML, in a `pd-md` block (`wrap`): CommonMark with tables (cmark-gfm), raw HTML
    neutralised as `safe_markdown` does, the first use of each glossary term with its tooltip, and each formula as
    arithmatex (generic) marks it for MathJax: `$...$` inline, `$$...$$` alone in a paragraph as a block."""
    text = text.replace("\ue000", "").replace("\ue001", "")  # no slot can be forged
    parts, formulas = CODE_OR_MATH.split(text), []
    for i in range(1, len(parts), 2):
        if parts[i].startswith("$"):
            formulas.append(defuse_math(parts[i]))
            parts[i] = _SLOT.format(len(formulas) - 1)
    source = safe_markdown("".join(parts), terms)
    out = commonmark_html(source)

    def formula(match: re.Match, alone: bool = False) -> str:
        math = formulas[int(match.group(1))]
        display = math.startswith("$$")
        body = html.escape(math[2:-2] if display else math[1:-1], quote=False)
        if display and alone:  # a paragraph of its own: a block
            return f'<div class="arithmatex">\\[{body}\\]</div>'
        marked = f'<span class="arithmatex">\\[{body}\\]</span>' if display else \
            f'<span class="arithmatex">\\({body}\\)</span>'
        return f"<p>{marked}</p>" if alone else marked

    if "<a " in out:
        out = _LINK.sub(lambda m: m.group(1) + html.escape(page_url(html.unescape(m.group(2)))), out)
    if formulas:
        out = _SLOTS.sub(formula, _SLOT_PARAGRAPH.sub(lambda m: formula(m, alone=True), out))
    return Markup(f"{FIELD_OPEN}{out}{FIELD_CLOSE}" if wrap and out else out)


# Unsafe only in name: what `record_html` hands cmark holds no raw HTML but the tooltips' <abbr>, and no URL that
# runs script (safe_markdown).
CMARK_OPTIONS = Options.CMARK_OPT_UNSAFE


@functools.cache
def _cmark() -> tuple | None:
    """cmark-gfm's functions, the table extension, and the two that free what a conversion leaves: the syntax tree
    and the HTML. cmarkgfm's own `markdown_to_html_with_extensions` frees neither (15 KB a call: 800 MB more at
    the peak of a 10,000-paper build); its module exports them, so they are declared here. None where it does not
    (a system whose linker keeps them hidden, a cmarkgfm that has moved them): then cmarkgfm's function converts,
    and keeps what it keeps."""
    lib, ffi = _cmark_module.lib, _cmark_module.ffi
    try:
        # Their addresses from the shared library (ctypes), typed by cmarkgfm's own compiled FFI: a cffi.FFI of our
        # own would parse their declarations with pycparser, a twentieth of a second to import in every process.
        exported = ctypes.CDLL(_cmark_module.__file__)

        def function(name: str, signature: str):
            return ffi.cast(signature, ctypes.cast(getattr(exported, name), ctypes.c_void_p).value)

        # cmark_mem is {calloc, realloc, free}: three function pointers.
        allocator = function("cmark_get_default_mem_allocator", "void **(*)(void)")()
        lib.cmark_gfm_core_extensions_ensure_registered()
        return (lib.cmark_parser_new, lib.cmark_parser_attach_syntax_extension, lib.cmark_find_syntax_extension(b"table"),
                lib.cmark_parser_feed, lib.cmark_parser_finish, lib.cmark_render_html,
                lib.cmark_parser_get_syntax_extensions, lib.cmark_parser_free,
                function("cmark_node_free", "void (*)(void *)"), ffi.cast("void (*)(void *)", allocator[2]))
    except (OSError, AttributeError):
        return None


def commonmark_html(text: str) -> str:
    """CommonMark with GitHub's tables as HTML (cmark-gfm), everything it allocated freed."""
    functions = _cmark()
    if functions is None:
        return cmarkgfm.markdown_to_html_with_extensions(text, options=CMARK_OPTIONS, extensions=["table"])
    new, attach, table, feed, finish, render, extensions, free_parser, free_tree, free = functions
    data = text.encode("utf-8")
    parser = new(CMARK_OPTIONS)
    try:
        attach(parser, table)
        feed(parser, data, len(data))
        root = finish(parser)
        try:
            raw = render(root, CMARK_OPTIONS, extensions(parser))
            try:
                return _cmark_module.ffi.string(raw).decode("utf-8")
            finally:
                free(raw)
        finally:
            free_tree(root)
    finally:
        free_parser(parser)


# A link into the site, as a Markdown page's would be written: the `.md` file of the page, relative to the papers
# folder (`beta.md`, `../tags/attention.md#top`). `digest check` makes sure the page exists (validate.check_links).
SITE_LINK = re.compile(r"^(?![A-Za-z][A-Za-z0-9+.-]*:|[#/])([^#?]*\.md)(#.*)?$")
_LINK = re.compile(r'(<a href=")([^"]*)')


def site_page(target: str) -> str | None:
    """The page (its source path, `papers/beta.md`) that a link in a paper's text leads to, if it is a link into the
    site; None for an outside address, an anchor on the page or anything else."""
    match = SITE_LINK.match(target)
    return posixpath.normpath(posixpath.join("papers", match.group(1))) if match else None


def page_url(target: str) -> str:
    """A link of a paper's text as MkDocs writes it on the paper's page (papers/<id>/, directory URLs): a page's
    `.md` file becomes its folder, relative to the paper's page (`beta.md#x` -> `../beta/#x`); others stay."""
    page = site_page(target)
    if page is None:
        return target
    folder = posixpath.dirname(page) if posixpath.basename(page) == "index.md" else page[:-3]
    url = posixpath.relpath(folder or ".", "papers/page") + "/"
    return url + (SITE_LINK.match(target).group(2) or "")


def record_list_html(items: list[str]) -> Markup:
    """A list of Markdown items (a paper's contributions) as one finished `pd-md` block: a CommonMark list."""
    lines = ["- " + item.strip().replace("\n", "\n  ") for item in items]
    return record_html("\n".join(lines))
