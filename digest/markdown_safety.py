"""Record text is Markdown written by contributors: keep its formatting, never let it carry HTML or script.

`<` outside code and math becomes `&lt;` (so no tag can open), and links to `javascript:`/`data:`/`vbscript:`
URLs are defused. Glossary terms get an `<abbr>` with their translation, which Material shows as a tooltip.
"""

from __future__ import annotations

import html
import re

# Code fences, inline code, display math, inline math: passed through untouched (Markdown escapes code itself,
# arithmatex escapes math).
PROTECTED = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]+`|\$\$.*?\$\$|(?<!\\)\$[^$\n]+\$)", re.S)
AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
# A line break between two CJK characters: Markdown would render it as a space, which Chinese text has none of.
CJK_BREAK = re.compile(r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])[ \t]*\n[ \t]*(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])")
BAD_URL = re.compile(r"(\]\s*\(\s*|\]:\s*)(javascript|vbscript|data)\s*:", re.I)


def _escape_text(text: str) -> str:
    text = AUTOLINK.sub(lambda m: f"[{m.group(1)}]({m.group(1)})", text)
    text = CJK_BREAK.sub("", text.replace("<", "&lt;"))
    return BAD_URL.sub(lambda m: m.group(1) + "#blocked-", text)


def safe_markdown(text: str, terms: dict[str, str] | None = None) -> str:
    """Markdown with HTML neutralised; the first use of each glossary term gets a tooltip."""
    parts = PROTECTED.split(text)
    pending = dict(terms or {})
    for i in range(0, len(parts), 2):  # even indexes are plain text, odd ones protected
        parts[i] = _escape_text(parts[i])
        if pending:
            parts[i] = _mark_terms(parts[i], pending)
    return "".join(parts)


SKIP = re.compile(r"(<abbr [^>]*>.*?</abbr>|\[[^\]]*\]\([^)]*\)|&lt;\S*|^#.*$)", re.M)


def _mark_terms(text: str, pending: dict[str, str]) -> str:
    """Wrap the first free occurrence of each pending term (not in a link, heading or earlier tooltip)."""
    for term in sorted(list(pending), key=len, reverse=True):
        ascii_term = term.isascii()
        pattern = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])" if ascii_term else re.escape(term),
                             flags=re.I if ascii_term else 0)
        pieces = SKIP.split(text)
        for i in range(0, len(pieces), 2):
            match = pattern.search(pieces[i])
            if match:
                title = html.escape(pending.pop(term), quote=True)
                pieces[i] = (pieces[i][:match.start()] + f'<abbr title="{title}">{match.group(0)}</abbr>'
                             + pieces[i][match.end():])
                break
        text = "".join(pieces)
    return text


def fence(text: str, lang: str = "") -> str:
    """A fenced code block that `text` cannot close early (the fence is longer than any backtick run in it)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"
