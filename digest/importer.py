"""Import stage: BibTeX entries -> queued records: what the entry says and nothing else.

Each entry gives title, authors (LaTeX decoded to Unicode), a date as precise as the entry (year, or year and
month), venue, arXiv id (wherever the entry writes it), DOI, one link and the citation (type and key kept).
A field the entry lacks stays absent, a tag is added only when the title or keywords name it, and the written
parts of a digest are left for `digest start`. Every entry that cannot become a record is reported with its
file:line, so is every entry skipped because the collection has it already, and every field that could not be
mapped: nothing is dropped silently. The field mapping is the inverse of `digest/bibtex.py`; the "Add a paper"
page has it as a table.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import bibtexparser
import yaml
from bibtexparser.middlewares.names import InvalidNameError, parse_single_name_into_parts, split_multiple_persons_names
from bibtexparser.model import DuplicateBlockKeyBlock, DuplicateFieldKeyBlock, Entry
from pydantic import ValidationError
# pylatexenc comes with bibtexparser 2 (its LaTeX middlewares use it); math stays verbatim here, so a title's
# `$O(n)$` survives export and import unchanged.
from pylatexenc.latex2text import LatexNodes2Text

from digest.load import Loader, read_text
from digest.problems import DigestError, Problem, relative
from digest.schema import Paper, PubDate, Tag

MAX_BIB_BYTES = 20 * 1024**2  # a group's whole reference list is a few MB at most
MODELINE = "# yaml-language-server: $schema=../../schema/paper.schema.json"
FIELD_ORDER = ("id", "kind", "status", "title", "authors", "published", "venue", "arxiv", "doi", "links", "tags", "added",
               "tldr", "summary", "method", "contributions", "results", "limitations", "claims", "impl", "citation")
CITATION_FIELDS = ("journal", "booktitle", "publisher", "volume", "number", "pages")
TODO_TEXTS = {
    "tldr": {"en": "TODO: one or two sentences: what the paper does and why it matters.",
             "zh": "TODO：一两句话说明论文做了什么、为什么重要。"},
    "summary": {"en": "TODO: 150-300 words in your own words: the problem, the idea, the evidence.",
                "zh": "TODO：用自己的话写中文摘要（不是逐句翻译）：问题、思路、证据。"},
    "contributions": {"en": ["TODO: 3-5 contributions, one per item."],
                      "zh": ["TODO：3-5 条贡献，每条一项。"]},
}
TITLE_ZH_TODO = "TODO：中文标题"
VENUE_TODO = "TODO: venue"

NEW_ARXIV, OLD_ARXIV = r"\d{4}\.\d{4,5}", r"[a-z-]+(?:\.[A-Z]{2})?/\d{7}"
# "arXiv:2201.03545", "ArXiv preprint arXiv:2201.03545v2", arxiv.org/abs/..., "arXiv.2201.03545" (the DOI's form),
# CoRR's "abs/1706.03762", and old-style "arXiv:cs/0112017".
ARXIV_IN_TEXT = re.compile(rf"(?:arxiv(?:\.org/(?:abs|pdf)/|\s*:\s*|\s+|\.)|(?<![\w/])abs/)\s*"
                           rf"({NEW_ARXIV}|(?-i:{OLD_ARXIV}))(?:v\d+)?", re.I)
ARXIV_ALONE = re.compile(rf"(?:arxiv:)?\s*({NEW_ARXIV}|{OLD_ARXIV})(?:v\d+)?", re.I)
# Where entries write an arXiv id, in the order they are read (eprint only when its archive is arXiv's).
ARXIV_FIELDS = ("eprint", "arxivid", "arxiv", "doi", "url", "journal", "note", "howpublished", "volume", "number")
# Fields a record has a place for (keywords only suggest tags); any other field is reported as not mapped.
MAPPED_FIELDS = {"title", "author", "year", "month", "date", "journal", "booktitle", "publisher", "volume", "number",
                 "pages", "howpublished", "doi", "url", "school", "institution", "organization", "keywords",
                 "eprint", "archiveprefix", "eprinttype", "primaryclass", "eprintclass", "arxivid", "arxiv"}
DOI = re.compile(r"^10\.\d{4,9}/\S+$")
ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(\d{4}\.\d{4,5})(?:v\d+)?$", re.I)
KEY_OK = re.compile(r"[^A-Za-z0-9_:\-.]")
MONTH_NAMES = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                                 "oct", "nov", "dec"))}
# Booktitle/journal text -> the short display venue (conferences get the year, as in "ICML 2023"): the full
# name matches in any case (Google Scholar writes "Advances in neural information processing systems"), the
# acronym only in capitals.
CONFERENCES = (
    ("NeurIPS", r"Neural Information Processing Systems", r"NeurIPS|NIPS"),
    ("ICML", r"International Conference on Machine Learning", r"ICML"),
    ("ICLR", r"International Conference on Learning Representations", r"ICLR"),
    ("CVPR", r"Computer Vision and Pattern Recognition", r"CVPR"),
    ("ICCV", r"International Conference on Computer Vision", r"ICCV"),
    ("ECCV", r"European Conference on Computer Vision", r"ECCV"),
    ("EMNLP", r"Empirical Methods in Natural Language Processing", r"EMNLP"),
    ("NAACL", r"North American Chapter of the Association for Computational Linguistics", r"NAACL"),
    ("ACL", r"Annual Meeting of the Association for Computational Linguistics", r"ACL"),
    ("AAAI", r"AAAI Conference on Artificial Intelligence", r"AAAI"),
    ("IJCAI", r"International Joint Conference on Artificial Intelligence", r"IJCAI"),
    ("ICASSP", r"Acoustics,? Speech,? and Signal Processing", r"ICASSP"),
    ("Interspeech", r"Interspeech", r"INTERSPEECH"),
    ("KDD", r"Knowledge Discovery and Data Mining", r"KDD"),
    ("MICCAI", r"Medical Image Computing and Computer.Assisted Intervention", r"MICCAI"),
    ("FPGA", r"Field.Programmable Gate Arrays", r"FPGA"),
    ("SOSP", r"Symposium on Operating Systems Principles", r"SOSP"),
    ("AISTATS", r"Artificial Intelligence and Statistics", r"AISTATS"),
    ("CoRL", r"Conference on Robot Learning", r"CoRL"),
    ("SIGGRAPH", r"SIGGRAPH", r"SIGGRAPH"),
)
JOURNALS = (
    (r"^arXiv\b", "arXiv"),
    (r"^CoRR$", "arXiv"),  # the Computing Research Repository is arXiv's computer-science section
    (r"Transactions on Machine Learning Research", "TMLR"),
    (r"Journal of Machine Learning Research", "JMLR"),
    (r"Transactions on Pattern Analysis and Machine Intelligence", "TPAMI"),
    (r"International Journal of Computer Vision", "IJCV"),
)
# BibTeX types -> the three a record's citation knows; a thesis or report says what it is in `howpublished`.
TYPES = {"article": "article", "inproceedings": "inproceedings", "conference": "inproceedings",
         "incollection": "inproceedings", "inbook": "inproceedings", "misc": "misc"}
WORK_LABELS = {"phdthesis": "PhD thesis", "mastersthesis": "Master's thesis", "thesis": "Thesis",
               "techreport": "Technical report", "report": "Report"}
TRAILING_SMALL_WORDS = {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "via",
                        "with"}
CODE_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org")

_latex = LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)


@dataclass
class Draft:
    """A record about to be written: fields in record-format order, end-of-line comments, its source, and what
    of the entry found no place in it."""

    data: dict
    comments: dict[str, str]
    key: str
    line: int
    unmapped: list[str] = field(default_factory=list)

    @property
    def paper_id(self) -> str:
        return self.data["id"]

    def yaml_text(self) -> str:
        return paper_yaml(self.data, self.comments)


@dataclass
class ImportPlan:
    """What importing a .bib would do: records to create, entries skipped (with why), and problems."""

    source: str
    entries: int = 0
    created: list[Draft] = field(default_factory=list)
    skipped: list[tuple[Draft, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


# ---- reading BibTeX ---------------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    """Keeps bibtexparser's log messages (the reason a block failed) instead of printing them."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def parse_bib(text: str, rel: str) -> tuple[list[Entry], list[Problem]]:
    """Entries of a .bib text (@string macros resolved) and one located problem per block that failed."""
    handler, log = _Collect(), logging.getLogger("bibtexparser")
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        library = bibtexparser.parse_string(text)
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
    problems = []
    first_line = {e.key: e.start_line + 1 for e in library.entries}
    for block in library.failed_blocks:
        line = (block.start_line or 0) + 1
        head = re.match(r"\s*@\s*(\w+)\s*[{(]\s*([^,\s]*)", block.raw or "")
        key = head.group(2) if head else ""
        if isinstance(block, DuplicateBlockKeyBlock):
            problems.append(Problem(rel, line, 1, key, f"duplicate key `{key}` (first used on line "
                                    f"{first_line.get(key, '?')}): this entry is not imported",
                                    "give the entry its own key, or delete the repeated entry"))
        elif isinstance(block, DuplicateFieldKeyBlock):
            names = re.search(r"keys on entry: (.*?)\.", str(block.error))
            problems.append(Problem(rel, line, 1, key, f"a field appears twice in this entry "
                                    f"({names.group(1) if names else 'see the entry'}): not imported",
                                    "keep one of the two values"))
        else:
            reason = getattr(block.error, "abort_reason", "") or str(block.error)
            problems.append(Problem(rel, line, 1, key, f"BibTeX syntax error: {reason.strip()}; this entry "
                                    "is not imported", "check this entry's braces, quotes and the commas "
                                    "between fields"))
    return list(library.entries), problems


def decode(text: str) -> str:
    """LaTeX -> Unicode text: accents, braces, `\\&`; `\\url{x}` -> x; math kept verbatim; spaces collapsed."""
    text = re.sub(r"\\(?:url|path)\s*\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\href\s*\{[^{}]*\}\s*\{([^{}]*)\}", r"\1", text)
    # pylatexenc costs ~5 ms a value (most of an import's time): plain text skips it.
    out = _latex.latex_to_text(text) if re.search(r"[\\{}~$%&`']|--", text) else text
    return re.sub(r"\s+", " ", out.replace("\xa0", " ")).strip()


def authors_of(raw: str) -> list[str]:
    """`Last, First and First von Last and {Org Name}` -> ["First Last", "First von Last", "Org Name"]."""
    names = []
    for person in split_multiple_persons_names(raw):
        try:
            parts = parse_single_name_into_parts(person, strict=False)
            words = parts.first + parts.von + parts.last + parts.jr
        except InvalidNameError:
            words = [person]
        name = decode(" ".join(words))
        if name:
            names.append(name)
    return names


def arxiv_id(text: str) -> str | None:
    """The arXiv id (without version) in a bare id, `arXiv:...` anywhere in a text, an arxiv.org URL, CoRR's
    `abs/...` or the arXiv DOI; new style (2201.03545) or old (cs/0112017)."""
    text = text.replace("{", "").replace("}", "").strip()  # "Ar{X}iv:2010.02178" keeps its capital X
    if m := ARXIV_DOI.match(re.sub(r"^https?://(?:dx\.)?doi\.org/", "", text)):
        return m.group(1)
    m = ARXIV_ALONE.fullmatch(text) or ARXIV_IN_TEXT.search(text)
    if not m:
        return None
    digits = m.group(1).split("/")[-1]
    return m.group(1) if 1 <= int(digits[2:4]) <= 12 else None


def arxiv_month(identifier: str) -> PubDate:
    """The month an arXiv id was issued in: 2303.01469 -> 2023-03, cs/0112017 -> 2001-12."""
    digits = identifier.split("/")[-1]
    yy, mm = int(digits[:2]), int(digits[2:4])
    return PubDate(2000 + yy if yy < 91 else 1900 + yy, mm)


def _month(raw: str) -> int | None:
    raw = raw.strip().lower().rstrip(".")
    if raw.isdigit() and 1 <= int(raw) <= 12:
        return int(raw)
    return MONTH_NAMES.get(raw[:3]) if raw[:3] in MONTH_NAMES else None


def _year(raw: str) -> int | None:
    m = re.fullmatch(r"\s*(\d{4})\s*", raw)
    return int(m.group(1)) if m and 1000 <= int(m.group(1)) <= 2999 else None  # Gauss (1809) is cited too


def venue_of(fields: dict[str, str], year: int, arxiv: str | None) -> str | None:
    """The display venue: a known conference as "ICML 2023", a known journal by its short name, else the text;
    None when the entry names none."""
    for name in ("booktitle", "journal"):
        text = fields.get(name)
        if not text:
            continue
        if "workshop" not in text.lower():
            for short, full, acronym in CONFERENCES:
                if re.search(full, text, flags=re.I) or re.search(rf"\b(?:{acronym})\b", text):
                    return f"{short} {year}"
        for pattern, short in JOURNALS:
            if re.search(pattern, text, flags=re.I):
                return short
        return text
    if text := fields.get("howpublished"):
        return "arXiv" if re.match(r"arxiv\b", text, flags=re.I) and arxiv else text
    return "arXiv" if arxiv else None


def record_id(title: str, key: str) -> str:
    """A slug for the file name: the title's short name before a colon, else its first six words."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    head = plain.split(":")[0] if ":" in plain and len(plain.split(":")[0].split()) <= 5 else plain
    words = re.findall(r"[a-z0-9]+", head.lower().replace("'", ""))[:6]
    while len(words) > 1 and words[-1] in TRAILING_SMALL_WORDS:  # "...-learning-in" reads cut off
        words.pop()
    slug = "-".join(words)[:60].strip("-")
    return slug or "-".join(re.findall(r"[a-z0-9]+", key.lower())) or "paper"


def guess_tags(text: str, tags: dict[str, Tag]) -> list[str]:
    """Vocabulary tags whose id or English label appears in `text` (title and keywords), at most five."""
    found = []
    for tag_id, tag in tags.items():
        phrases = {tag_id.replace("-", " "), tag.en.lower()}
        phrases |= {p[:-1] for p in phrases if p.endswith("s")}  # "diffusion models" also finds "diffusion model"
        if any(re.search(rf"(?<![a-z]){re.escape(p)}s?(?![a-z])", text.lower().replace("-", " ")) for p in phrases):
            found.append(tag_id)
    return found[:5]


def _publication_date(fields: dict[str, str], arxiv: str | None, problem):
    """(published as YAML writes it, the entry's year, problems): the arXiv id's month, else the entry's year and
    month; never more precise than the source (2017, "2017-06")."""
    year = _year(fields.get("year", "")) or _year(fields.get("date", "")[:4])
    month = _month(fields.get("month", "")) or _month(fields.get("date", "")[5:7])
    given = fields.get("year")
    if arxiv:
        found = [problem(f"year `{given}` is not a four-digit year: the arXiv id gives the date", "fix the year field",
                         "warning")] if given and not _year(given) else []
        return arxiv_month(arxiv).isoformat(), year, found
    if year:
        return (f"{year}-{month:02d}" if month else year), year, []
    return None, None, [problem(f"year `{given}` is not a four-digit year" if given else
                                "no year: a record needs the date of the paper",
                                "write `year = {2024}` (and `month = mar`), or give the arXiv id in `eprint`")]


def _links(url: str, host: str, arxiv: str | None, doi: str | None, standalone: bool) -> tuple[str, dict, str | None]:
    """(kind, links, doi) from the entry's one `url`, sorted by host; an arXiv paper also gets its PDF link."""
    kind, links = "paper", {}
    url_doi = re.sub(r"^https?://[^/]+/", "", url) if host.endswith("doi.org") else ""
    if not url or (host == "arxiv.org" and arxiv) or (url_doi and url_doi.lower() == (doi or "").lower()) \
            or (ARXIV_DOI.match(url_doi) and arxiv):
        pass  # nothing to keep: the arXiv id or the DOI carries this link
    elif url_doi and doi is None and DOI.match(url_doi):
        doi = url_doi
    elif host == "openreview.net":
        links["openreview"] = url
    elif host in CODE_HOSTS:
        links["code"] = url
    elif url.lower().split("?")[0].endswith(".pdf"):
        links["pdf"] = url
    elif standalone:
        kind, links["article"] = "article", url  # a web page of its own: a blog post, a report online
    else:
        links["project"] = url
    if arxiv and "pdf" not in links:
        links["pdf"] = f"https://arxiv.org/pdf/{arxiv}"
    return kind, {k: links[k] for k in ("code", "pdf", "project", "openreview", "article") if k in links}, doi


# ---- one entry -> one draft --------------------------------------------------------------------------------------


def draft_from_entry(entry: Entry, rel: str, tags: dict[str, Tag], today: dt.date,
                     default_tags: tuple[str, ...] = ()) -> tuple[Draft | None, list[Problem]]:
    """The queued record an entry becomes (None if it lacks what a record needs) and the problems found."""
    line = entry.start_line + 1
    fields = {f.key.lower(): str(f.value).strip() for f in entry.fields}

    def problem(message: str, hint: str = "", severity: str = "error") -> Problem:
        return Problem(rel, line, 1, entry.key, message, hint, severity)

    out: list[Problem] = []
    for name, value in fields.items():  # bibtexparser reads `{a} \n author = {b}` as one value: a lost comma
        if m := re.search(r"[}\"]\s*\n\s*([A-Za-z]+)\s*=\s*[{\"\d]", value):
            out.append(problem(f"field `{name}` runs into `{m.group(1)} = ...` on the next line: a comma is "
                               f"missing after the value of `{name}`", f"add a comma after `{name}`'s value"))
            return None, out
    title = decode(fields.get("title", ""))
    authors = authors_of(fields["author"]) if fields.get("author") else []
    if not title:
        out.append(problem("no title: a record needs the paper's title", "add `title = {...}` to the entry"))
    if not authors:
        editors = " (the entry names editors only)" if fields.get("editor") else ""
        out.append(problem(f"no authors{editors}: a record needs at least one",
                           "add `author = {Last, First and ...}`"))

    # arXiv id: wherever the entry writes it (eprint only when the eprint is arXiv's).
    archive = (fields.get("archiveprefix") or fields.get("eprinttype") or "arxiv").lower()
    found_in = {name: a for name in ARXIV_FIELDS if fields.get(name) and (name != "eprint" or archive == "arxiv")
                and (a := arxiv_id(fields[name]))}
    arxiv = next(iter(found_in.values()), None)
    unmapped = [name for name in fields if name not in MAPPED_FIELDS and name not in found_in]
    if fields.get("eprint") and "eprint" not in found_in:
        unmapped.append(f"eprint ({fields.get('archiveprefix') or fields.get('eprinttype') or 'not arXiv'})")
    if fields.get("month") and not _month(fields["month"]):
        unmapped.append(f"month `{fields['month']}` (not a month name or number)")

    published, year, found = _publication_date(fields, arxiv, problem)
    out += found
    comments: dict[str, str] = {}
    if len(set(found_in.values())) > 1:
        unmapped.append("arXiv ids other than " + arxiv + ": " + ", ".join(
            f"{a} ({n})" for n, a in found_in.items() if a != arxiv))
    if any(p.severity == "error" for p in out):
        return None, out

    bib_type = entry.entry_type.lower()
    cite_type = TYPES.get(bib_type, "misc")
    if cite_type != bib_type:
        out.append(problem(f"@{bib_type} becomes @{cite_type} (a record's citation is article, inproceedings "
                           "or misc)", severity="warning"))
    values = {name: (fields[name] if name in ("volume", "number", "pages") else decode(fields[name]))
              for name in CITATION_FIELDS + ("howpublished",) if fields.get(name)}
    owner = decode(fields.get("school") or fields.get("institution") or fields.get("organization") or "")
    if owner and "publisher" not in values:
        values["publisher"] = owner
    if cite_type == "misc" and not ({"howpublished", "journal", "booktitle"} & set(values)):
        described = ", ".join(p for p in (WORK_LABELS.get(bib_type), owner or values.get("publisher")) if p)
        if described:
            values["howpublished"] = described

    doi = None
    raw_doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", fields.get("doi", ""), flags=re.I)
    if raw_doi and not ARXIV_DOI.match(raw_doi):
        if DOI.match(raw_doi):
            doi = raw_doi
        else:
            out.append(problem(f"DOI `{raw_doi}` is not of the form 10.NNNN/suffix: left out", "fix the doi field",
                               "warning"))
            unmapped.append(f"doi `{raw_doi}`")

    url = decode(fields.get("url", "")).replace(" ", "")
    if url and not re.match(r"^https?://\S+$", url):
        out.append(problem(f"url `{url}` is not an http(s) URL: left out", "write the full https:// URL",
                           "warning"))
        unmapped.append(f"url `{url}`")
        url = ""
    host = re.sub(r"^https?://(?:www\.)?", "", url).split("/")[0].lower()
    standalone = cite_type == "misc" and not arxiv and not ({"journal", "booktitle"} & set(values))
    kind, links, doi = _links(url, host, arxiv, doi, standalone)
    if kind == "article":
        values.setdefault("howpublished", host)

    published_year = PubDate.parse(published).year
    venue = venue_of(values, year or published_year, arxiv)

    key = entry.key
    if KEY_OK.search(key):
        key = KEY_OK.sub("_", key)
        out.append(problem(f"citation key `{entry.key}` becomes `{key}` (a key may hold letters, digits and "
                           "_ : - . only)", "cite the paper with the new key", "warning"))
    citation = {"type": cite_type, "key": key, **{n: values[n] for n in CITATION_FIELDS if n in values}}
    if year and year != published_year:
        citation["year"] = year

    # A tag only when the entry supports it (given with --tag, or named by the title or keywords), else none:
    # a person picks the tags when writing the digest, and a queued record's tags are shown nowhere.
    keywords = decode(fields.get("keywords", ""))
    chosen = list(default_tags) or guess_tags(f"{title} {keywords}", tags)
    if chosen and not default_tags:
        comments["tags"] = "named in the entry's title or keywords: check them when writing the digest"

    data = {
        "id": record_id(title, key),
        "kind": kind,
        "status": "queued",
        "title": {"zh" if _is_chinese(title) else "en": title},
        "authors": authors,
        "published": published,
        "venue": venue,
        "arxiv": arxiv,
        "doi": doi,
        "links": links or None,
        "tags": chosen,
        "added": today,
        "citation": citation,
    }
    return Draft(ordered(data), comments, key, line, unmapped), out


def _is_chinese(title: str) -> bool:
    """A title in Chinese characters with no Latin word longer than an acronym."""
    return bool(re.search(r"[\u4e00-\u9fff]", title)) and not re.search(r"[A-Za-z]{5,}", title)


def ordered(data: dict) -> dict:
    """`data` without empty fields (but a draft's `tags: []`, which carries its TODO comment), in the order of
    docs/dev/record-format.md."""
    return {k: data[k] for k in FIELD_ORDER if data.get(k) not in (None, [], {})
            or (k == "tags" and data.get(k) == [] and data.get("status") == "draft")}


# ---- YAML out ----------------------------------------------------------------------------------------------------


def _scalar(value) -> str:
    """One value in YAML flow style (quoted only where YAML needs it)."""
    text = yaml.safe_dump(value, allow_unicode=True, width=1 << 20, default_flow_style=True)
    return text.removesuffix("\n...\n").removesuffix("\n")


def _emit(key: str, value, pad: str, comment: str | None) -> list[str]:
    tail = f"  # {comment}" if comment else ""
    if isinstance(value, dict):
        lines = [f"{pad}{key}:{tail}"]
        for sub, item in value.items():
            lines += _emit(sub, item, pad + "  ", None)
        return lines
    if isinstance(value, list) and value and isinstance(value[0], dict):
        lines = [f"{pad}{key}:{tail}"]
        for item in value:
            inner = [line for sub, v in item.items() for line in _emit(sub, v, pad + "    ", None)]
            lines += [pad + "  - " + inner[0].lstrip()] + inner[1:]
        return lines
    if isinstance(value, str) and "\n" in value.strip("\n") and not re.search(r"[ \t]\n|\t|^\s", value):
        chomp = "" if value.endswith("\n") and not value.endswith("\n\n") else ("-" if not value.endswith("\n")
                                                                                else "+")
        body = [f"{pad}  {line}" if line else "" for line in value.removesuffix("\n").split("\n")]
        return [f"{pad}{key}: |{chomp}{tail}"] + body  # Markdown with paragraphs reads best as a literal block
    return [f"{pad}{key}: {_scalar(value)}{tail}"]


def paper_yaml(data: dict, comments: dict[str, str] | None = None) -> str:
    """A record as YAML text: the schema modeline, fields in record-format order, lists of names on one line."""
    lines = [MODELINE]
    for key, value in data.items():
        lines += _emit(key, value, "", (comments or {}).get(key))
    text = "\n".join(lines) + "\n"
    if yaml.load(text, Loader=Loader) != data:  # the emitter is small; make sure it said what it meant
        raise AssertionError(f"YAML emitter changed the record {data.get('id')}")
    return text


# ---- the whole file ----------------------------------------------------------------------------------------------


def _existing(root: Path) -> tuple[dict[str, str], dict[str, Tag]]:
    """Ids already taken (file stems, even of broken records) -> why, plus arXiv ids/keys/DOIs -> their id."""
    from digest.load import load_project

    project, _ = load_project(root)
    taken = {p.stem: p.stem for p in (root / "content" / "papers").glob("*.y*ml")}
    for paper in project.papers.values():
        for marker in (paper.arxiv and f"arxiv:{paper.arxiv}", f"key:{paper.citation.key}",
                       paper.doi and f"doi:{paper.doi.lower()}"):
            if marker:
                taken.setdefault(marker, paper.id)
    return taken, project.tags


def plan_import(root: Path, bib: Path, today: dt.date | None = None,
                default_tags: tuple[str, ...] = ()) -> ImportPlan:
    """Read `bib` and decide, entry by entry, what to create, skip or report; writes nothing."""
    rel = relative(bib, root) if bib.is_absolute() or (root / bib).exists() else bib.as_posix()
    unreadable: list[Problem] = []
    if (text := read_text(bib, rel, unreadable, MAX_BIB_BYTES)) is None:
        raise DigestError(unreadable)
    taken, tags = _existing(root)
    unknown = [t for t in default_tags if t not in tags]
    if unknown:
        raise DigestError(f"--tag {unknown[0]}: not a tag of content/tags.yaml (known: {', '.join(tags)})")
    entries, problems = parse_bib(text, rel)
    plan = ImportPlan(rel, entries=len(entries) + len(problems), problems=problems)
    if not entries and not problems:
        raise DigestError([Problem(rel, 1, 1, "", "no BibTeX entries found",
                                   "an entry starts with @article{key, ... (is this a .bib file?)")])
    ids_here: set[str] = set()
    for entry in entries:
        draft, found = draft_from_entry(entry, rel, tags, today or dt.date.today(), default_tags)
        plan.problems += found
        if draft is None:
            continue
        d = draft.data
        markers = [f"arxiv:{d['arxiv']}" if "arxiv" in d else None, f"key:{d['citation']['key']}",
                   f"doi:{d['doi'].lower()}" if "doi" in d else None]
        same = next(((m, taken[m]) for m in markers if m and m in taken), None)
        if d["id"] in taken:
            plan.skipped.append((draft, f"content/papers/{d['id']}.yaml exists"))
            continue
        if same:
            what = {"arxiv": "arXiv id", "key": "citation key", "doi": "DOI"}[same[0].split(":")[0]]
            plan.skipped.append((draft, f"same {what} as content/papers/{same[1]}.yaml"))
            continue
        if d["id"] in ids_here:  # two entries of this file with the same short title
            new_id = f"{d['id']}-{PubDate.parse(d['published']).year}"
            new_id = new_id if new_id not in ids_here | set(taken) else record_id("", draft.key)
            plan.problems.append(Problem(rel, draft.line, 1, draft.key, f"id `{d['id']}` is used by an earlier "
                                         f"entry of this file: this one becomes `{new_id}`",
                                         "rename the file and its id if you prefer another", "warning"))
            d["id"] = new_id
        ids_here.add(d["id"])
        for m in markers:
            if m:
                taken.setdefault(m, d["id"])
        plan.created.append(draft)
    _check_drafts(plan, tags)
    return plan


def _check_drafts(plan: ImportPlan, tags: dict[str, Tag]) -> None:
    """Every draft must pass the schema (then `digest check` only warns about its TODOs)."""
    keep = []
    for draft in plan.created:
        try:
            Paper.model_validate(draft.data)
            keep.append(draft)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            plan.problems.append(Problem(plan.source, draft.line, 1, draft.key,
                                         f"{where}: {err['msg']} (value {err.get('input')!r}): not imported",
                                         "fix this field of the entry"))
    plan.created = keep


def write_plan(root: Path, plan: ImportPlan) -> list[Path]:
    """Write the plan's new records; returns their paths (never overwrites: those ids were skipped)."""
    folder = root / "content" / "papers"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for draft in plan.created:
        path = folder / f"{draft.paper_id}.yaml"
        with path.open("x", encoding="utf-8") as handle:
            handle.write(draft.yaml_text())
        out.append(path)
    return out
