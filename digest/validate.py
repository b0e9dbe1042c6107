"""Validate stage: checks across records (tags, collections, implementations, translations, TODOs, glossary).

Schema errors are found by the load stage; this stage takes the typed project and returns more problems.
Warnings become errors under `--strict`.
"""

from __future__ import annotations

import difflib
import hashlib
import pickle
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from digest.files import replace_bytes
from digest.load import Project, RecordCache, Source
from digest.markdown_safety import CODE_OR_MATH, site_page
from digest.problems import Problem
from digest.schema import LANGS, Text, TextList

TODO = re.compile(r"\bTODO\b")
_PLAIN = (str, int, float, date)  # values that hold no bilingual text (bool is an int)
LATIN_TERM = re.compile(r"[A-Za-z]")


def bilingual_texts(record: BaseModel, path: tuple = ()):
    """Every bilingual field of a record with its data path: (path, Text | TextList)."""
    for name in type(record).model_fields:
        value = getattr(record, name)
        if value is None or isinstance(value, _PLAIN) or (isinstance(value, list) and (
                not value or isinstance(value[0], _PLAIN))):  # no text in it: most fields of a record
            continue
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            sub = path + ((name,) if index is None else (name, index))
            if isinstance(item, (Text, TextList)):
                yield sub, item
            elif isinstance(item, BaseModel):
                yield from bilingual_texts(item, sub)


def _strings(data, path: tuple = ()):
    """Every string in raw YAML data with its path (TODO markers may be anywhere)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, path + (i,))
    elif isinstance(data, str):
        yield path, data


def check_tags(project: Project, src: Source) -> list[Problem]:
    """Tags must come from content/tags.yaml (checked on the raw data, so broken records get it too)."""
    tags = src.data.get("tags") if isinstance(src.data, dict) else None
    out = []
    for i, tag in enumerate(tags if isinstance(tags, list) else []):
        if isinstance(tag, str) and tag not in project.tags:
            close = difflib.get_close_matches(tag, list(project.tags), n=1, cutoff=0.6)
            out.append(src.problem(("tags", i), f"unknown tag `{tag}`",
                                   f"did you mean `{close[0]}`?" if close else
                                   "add it to content/tags.yaml with en/zh labels"))
    return out


def check_translations(texts: list, src: Source) -> list[Problem]:
    """Each bilingual text (`bilingual_texts` of a record) that lacks a language."""
    out = []
    for path, text in texts:
        for lang in LANGS:
            if not text.has(lang):
                other = "English" if lang == "zh" else "Chinese"
                out.append(src.problem(path, f"no {'Chinese' if lang == 'zh' else 'English'} text: "
                                       f"the page shows the {other} text with a notice",
                                       f"add `{lang}:` under `{path[-1]}`", severity="warning"))
    return out


def check_todos(src: Source, published: bool = False) -> list[Problem]:
    """TODO in a value, and `# TODO` comments (scaffolds mark guessed values such as tags that way). In a
    record the site publishes, a TODO value is an error: it would be placeholder text on a page."""
    if not src.mentions_todo:
        return []
    out = [src.problem(path, "still marked TODO", "replace the TODO with the real text" + (
               ", or set `status: draft` until it is written" if published else ""),
               severity="error" if published else "warning")
           for path, value in _strings(src.data) if TODO.search(value)]
    out += [Problem(src.rel, line, col, "", f"TODO comment: {text or 'check this line'}",
                    "check the value on this line, then delete the comment", "warning")
            for line, col, text in src.todo_comments]
    return out


LETTERS = re.compile(r"[a-z]+")


def glossary_patterns(project: Project) -> dict[str, list[tuple[int, str, str, str]]]:
    """(glossary position, pattern for the English form, English, Chinese) of each term whose Chinese form has no
    Latin letters, by the first run of letters of the English form (a term can occur only where that run is a
    whole run). The patterns are compiled where a text may hold the term (re's own cache keeps them): compiling
    all hundred took 0.05 s of every build, most of which check no text (their problems are kept)."""
    out: dict[str, list] = {}
    for position, t in enumerate(project.glossary.terms):
        if LATIN_TERM.search(t.zh) is None and len(t.en) > 3:
            first = LETTERS.search(t.en.casefold())
            out.setdefault(first.group() if first else "", []).append(
                (position, rf"(?<![A-Za-z-]){re.escape(t.en)}(?![A-Za-z-])", t.en, t.zh))
    return out


def check_glossary_terms(patterns: dict, texts: list, src: Source) -> list[Problem]:
    """Chinese text (of `bilingual_texts` of a record) that keeps a glossary term in English where the glossary
    has a Chinese form."""
    out = []
    for path, text in texts:
        zh = text.zh if isinstance(text, Text) else " ".join(text.zh or [])
        if not zh:
            continue
        plain = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\([^)]*\)|（[^）]*）", " ", zh, flags=re.S)
        runs = set(LETTERS.findall(plain.casefold()))  # only the terms that start with one of these can occur
        candidates = [item for run in runs | {""} for item in patterns.get(run, ())]
        for _, pattern, en, zh_term in sorted(candidates, key=lambda item: item[0]):  # in glossary order
            if re.search(pattern, plain, re.I):
                out.append(src.problem(path + ("zh",), f"English term `{en}` in Chinese text",
                                       f"the glossary says `{zh_term}`; keep the English in parentheses "
                                       f"after it if it helps", severity="warning"))
    return out


# The fields a paper's page shows as finished HTML (markdown_safety.record_html), whose links MkDocs does not see.
HTML_FIELDS = {("tldr",), ("summary",), ("method",), ("limitations",), ("contributions",), ("impl", "shows"),
               ("impl", "deviations")}
# A Markdown link's target: inline `](target` (optionally in <>), or a reference definition `[label]: target`.
LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)|^[ ]{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)


def site_pages(project: Project) -> set[str]:
    """The pages a paper's text can link to (source paths): every generated page with a text of its own and the
    guide's pages."""
    pages = {"index.md", "papers/index.md", "queue/index.md", "tags/index.md", "collections/index.md", "glossary.md"}
    pages |= {f"papers/{paper_id}.md" for paper_id in project.digested}
    pages |= {f"tags/{tag}.md" for tag in project.tags} | {f"collections/{c}.md" for c in project.collections}
    return pages | {page.name for page in (project.root / "pages" / "en").glob("*.md")}


def check_links(pages: set[str], texts: list, src: Source) -> list[Problem]:
    """Links into the site (to a `.md` file) in the fields shown as finished HTML: each must name a page the site
    has, as MkDocs requires of the links it converts with the rest of a page. Other targets are left as MkDocs
    leaves them (an outside address, an anchor; a script URL is defused by the renderer)."""
    out = []
    for path, text in texts:
        if path not in HTML_FIELDS:
            continue
        for lang in LANGS:
            value = getattr(text, lang)
            for item in value if isinstance(value, list) else [value] if value else []:
                if ".md" not in item:  # no link into the site (most texts): nothing to look for
                    continue
                prose = " ".join(CODE_OR_MATH.split(item)[::2])  # code and math hold no link
                for match in LINK_TARGET.finditer(prose):
                    target = match.group(1) or match.group(2)
                    page = site_page(target)
                    if page is not None and page not in pages:
                        out.append(src.problem(path + (lang,), f"link to `{target}`, which is not a page of the site",
                                               "link a paper as `<id>.md`, a tag as `../tags/<tag>.md` (paths from "
                                               "the papers folder), or give a full address (https://...)"))
    return out


def validate(project: Project, strict: bool = False) -> list[Problem]:
    """Cross-record problems of a loaded project; with `strict`, warnings count as errors."""
    root, out, drafts = project.root, [], []
    patterns, pages = glossary_patterns(project), site_pages(project)
    kept = TextChecks(project, pages)
    for src in project.rejected:
        out += check_tags(project, src)
    for paper_id, paper in project.papers.items():
        src = project.source("paper", paper_id)
        out += check_tags(project, src)
        if paper.impl is not None:
            folder = root / paper.impl.path
            if not folder.is_dir():
                out.append(src.problem(("impl", "path"), f"implementation folder `{paper.impl.path}` does not exist",
                                       f"create it (digest new {paper_id} makes a skeleton) or fix the path"))
            for i, claim in enumerate(paper.claims):
                file, _, test = claim.test.partition("::")
                if not file.startswith(paper.impl.path + "/"):
                    out.append(src.problem(("claims", i, "test"), f"test `{claim.test}` is outside {paper.impl.path}",
                                           "a claim is checked by a test of the paper's own implementation"))
                elif folder.is_dir() and (not (root / file).is_file() or
                                          f"def {test}(" not in (root / file).read_text(encoding="utf-8")):
                    out.append(src.problem(("claims", i, "test"), f"no test `{test}` in {file}",
                                           f"write `def {test}():` there, or fix the node id"))
        elif paper.claims:
            out.append(src.problem(("claims",), "claims without an implementation",
                                   "add `impl:` with the path of the implementation that tests them"))
        # A draft's gaps are listed but stay warnings under --strict (it is not published); a queued record has
        # only bibliographic facts, which the schema checked.
        if paper.status in ("digested", "draft"):
            found = kept.get(src, lambda: check_texts(paper, src, patterns, pages))
            if paper.status == "digested":
                out += found
            else:
                drafts += found
    for coll_id, coll in project.collections.items():
        src = project.source("collection", coll_id)
        for i, entry in enumerate(coll.papers):
            if entry.paper not in project.papers and f"paper:{entry.paper}" in project.broken:
                out.append(src.problem(("papers", i, "paper"), f"paper `{entry.paper}` has errors "
                                       f"(see {project.broken[f'paper:{entry.paper}']})",
                                       "fix that record; this entry is right", severity="warning"))
            elif entry.paper not in project.papers:
                close = difflib.get_close_matches(entry.paper, list(project.papers), n=1, cutoff=0.6)
                out.append(src.problem(("papers", i, "paper"), f"no paper `{entry.paper}` in content/papers",
                                       f"did you mean `{close[0]}`?" if close else "add the paper's record first"))
        out += check_translations(list(bilingual_texts(coll)), src) + check_todos(src)
    out += check_unique(project)
    kept.save()
    return [p.as_error() if strict else p for p in out] + drafts


def check_texts(paper, src: Source, patterns: dict, pages: set[str]) -> list[Problem]:
    """The checks of a paper's texts: translations, TODOs, glossary terms in Chinese text, links into the site."""
    texts = list(bilingual_texts(paper))
    return check_translations(texts, src) + check_todos(src, published=paper.status == "digested") + \
        check_glossary_terms(patterns, texts, src) + check_links(pages, texts, src)


class TextChecks:
    """`check_texts`' problems of each record, kept between runs in `.cache/` by the records cache's key of its
    file (its path and bytes) under a key of all else they read: the glossary, the pages a link can name, the
    checking code (this module and what it calls) and the loading code (load.RecordCache.CODE). A run after one
    edit checks one record's texts instead of every record's (10,000 records: 2 s)."""

    FILE = Path(".cache") / "text-checks.pickle"

    def __init__(self, project: Project, pages: set[str]):
        here = Path(__file__).parent
        self.file = project.root / self.FILE
        self.context = hashlib.sha256(b"".join((here / name).read_bytes() for name in ("validate.py", "markdown_safety.py"))
                                      + RecordCache.CODE.encode() + repr((project.glossary, sorted(pages))).encode()
                                      ).hexdigest()
        self.known: dict[str, list[Problem]] = {}
        self.used: dict[str, list[Problem]] = {}
        try:
            with self.file.open("rb") as f:
                context, known = pickle.load(f)
            if context == self.context:
                self.known = known
        except Exception:  # noqa: BLE001 - missing, truncated, from another version: every record is checked
            pass

    def get(self, src: Source, check: Callable[[], list[Problem]]) -> list[Problem]:
        if src.key is None:  # not from the records cache (a file too large for it): checked every time
            return check()
        found = self.known.get(src.key)
        if found is None:
            found = check()
        self.used[src.key] = found
        return found

    def save(self) -> None:
        """Keep what this run used, if that differs from what it found."""
        if self.used.keys() == self.known.keys():
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            replace_bytes(self.file, pickle.dumps((self.context, self.used), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # a read-only checkout, a full disk: it only saves time
            pass


def check_unique(project: Project) -> list[Problem]:
    """Citation keys (BibTeX cannot hold two alike), claim ids within a record, and arXiv ids (two records of one
    paper: a warning); each problem names both places."""
    out: list[Problem] = []
    keys: dict[str, tuple[Source, str]] = {}
    arxiv: dict[str, Source] = {}
    for paper_id, paper in sorted(project.papers.items()):
        src = project.source("paper", paper_id)
        key = paper.citation.key.casefold()  # BibTeX compares keys without case
        if key in keys:
            first, first_key = keys[key]
            out.append(src.problem(("citation", "key"), f"citation key `{paper.citation.key}` is also used by "
                                   f"{first.rel}:{first.locate(('citation', 'key'))[0]}"
                                   + (f" (as `{first_key}`: BibTeX ignores case)" if first_key != paper.citation.key
                                      else ""), "give each record its own key, e.g. author + year + title word"))
        else:
            keys[key] = (src, paper.citation.key)
        if paper.arxiv:
            if paper.arxiv in arxiv:
                first = arxiv[paper.arxiv]
                out.append(src.problem(("arxiv",), f"arXiv {paper.arxiv} is also the paper of {first.rel}:"
                                       f"{first.locate(('arxiv',))[0]}", "two records for one paper: merge them "
                                       "into one (or fix the arXiv id)", severity="warning"))
            else:
                arxiv[paper.arxiv] = src
        claims: dict[str, int] = {}
        for i, claim in enumerate(paper.claims):
            if claim.id in claims:
                out.append(src.problem(("claims", i, "id"), f"claim id `{claim.id}` is also used on line "
                                       f"{src.locate(('claims', claims[claim.id], 'id'))[0]}",
                                       "each claim of a record needs its own id"))
            else:
                claims[claim.id] = i
    return out


def summary_line(project: Project) -> str:
    """Records per state, collections, digests complete in both languages, implemented papers, claims passing."""
    from digest.demos import cached_run

    papers = project.digested
    complete = sum(all(t.has(lang) for _, t in bilingual_texts(p) for lang in LANGS)
                   and not check_todos(project.source("paper", p.id)) for p in papers.values())
    implemented = [p for p in papers.values() if p.impl is not None]
    claims = sum(len(p.claims) for p in implemented)
    passing = 0
    for paper in implemented:
        run = cached_run(project.root, paper) if (project.root / paper.impl.path).is_dir() else None
        passing += run.claims_passed if run else 0
    queued = sum(p.status == "queued" for p in project.papers.values())
    return (f"{len(papers)} papers, {len(project.collections)} collections; {queued} queued, "
            f"{len(project.papers) - len(papers) - queued} drafts (`digest status`); "
            f"{complete}/{len(papers)} complete in both languages; "
            f"{len(implemented)} implemented; claims passing {passing}/{claims} (as of the last demo runs)")


def remaining_work(project: Project, paper_id: str) -> list[str]:
    """What keeps a record from being digested: fields a digest needs that it lacks, then its TODO markers."""
    from digest.schema import DIGESTED_REQUIRES

    paper, src = project.papers[paper_id], project.source("paper", paper_id)
    missing = [f"{name}: missing" for name in DIGESTED_REQUIRES if not getattr(paper, name)]
    return missing + [f"{p.field or f'line {p.line}'}: {p.message}" for p in check_todos(src)]


def status_report(project: Project) -> tuple[dict[str, int], list[tuple[str, list[str]]]]:
    """Records per state, and the drafts with what each still needs, closest to complete first."""
    from digest.schema import STATUSES

    counts = {state: sum(p.status == state for p in project.papers.values()) for state in STATUSES}
    drafts = [(pid, remaining_work(project, pid)) for pid, p in sorted(project.papers.items())
              if p.status == "draft"]
    return counts, sorted(drafts, key=lambda item: (len(item[1]), item[0]))
