"""Load stage: YAML files -> typed records, with every problem located as file:line:col.

Parsing uses libyaml's safe loader when present (15x faster on 1,000 records, measured) and never an unsafe one.
Each file is parsed into values and, separately, into nodes whose marks give every field's line and column.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import importlib.metadata
import multiprocessing
import os
import pickle
import re
import subprocess
import typing
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pydantic
import yaml
from pydantic import BaseModel, ValidationError

from digest import bibtex
from digest.files import replacing
from digest.problems import DigestError, Problem, relative
from digest.schema import ARXIV_PATTERN, Collection, Glossary, IncompleteRecord, Paper, Tag

class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader, except that an impossible date (2024-13-01) stays text for the schema to report."""


def _timestamp_or_text(loader, node):
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
Path_ = tuple  # a path into the data: ("results", 0, "value")


class PackedMarks(Mapping):
    """A record's positions (path -> line, column), kept pickled until a problem asks for one: unpacked, the
    positions of every value and key are more than half of a loaded record's memory (10,000 records: about
    500 MB, in the build and in each of its language workers), and a record without problems never reads them."""

    __slots__ = ("_packed", "_table")

    def __init__(self, table: Mapping | None = None, packed: bytes | None = None):
        self._packed = packed if packed is not None else pickle.dumps(dict(table or {}), pickle.HIGHEST_PROTOCOL)
        self._table: dict | None = None

    @property
    def table(self) -> dict:
        if self._table is None:
            self._table = pickle.loads(self._packed)
        return self._table

    def __getitem__(self, path):
        return self.table[path]

    def __iter__(self):
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def __reduce__(self):
        return PackedMarks, (None, self._packed)


@dataclass
class Source:
    """One parsed YAML file: its values and where each value (and each mapping key) stands."""

    rel: str
    data: object
    marks: Mapping[Path_, tuple[int, int]] = field(default_factory=dict)  # a PackedMarks once cached
    key_marks: Mapping[Path_, tuple[int, int]] = field(default_factory=dict)
    todo_comments: list[tuple[int, int, str]] = field(default_factory=list)  # (line, col, text) of `# TODO`
    mentions_todo: bool = True  # False when the file's text has no "TODO" anywhere (spares the walk for markers)
    bibtex: str | None = None  # a paper's BibTeX entry (`bibtex.entry_text`), made where it was parsed and kept with it
    digests: tuple[str, str] | None = None  # a paper's `record_digests`, made and kept the same way
    key: str | None = None  # the records cache's key of the file it was read from (its path and bytes)

    def locate(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of `path`, or of its nearest located parent."""
        table = self.key_marks if key else self.marks
        while path and path not in table and path not in self.marks:
            path = path[:-1]
        return table.get(path) or self.marks.get(path) or (1, 1)

    def problem(self, path: Path_, message: str, hint: str = "", severity: str = "error", key: bool = False):
        line, col = self.locate(path, key)
        return Problem(self.rel, line, col, dotted(path), message, hint, severity)


# A record's prose, which no row of a listing or a tag's table shows (templates/listing.md.j2, _macros.j2's
# paper_row, tag.md.j2's description): left out of the rows' keys. tests/test_listing.py changes each of them and
# checks that every listing and tag page renders as before.
ROW_UNSHOWN = frozenset({"tldr", "summary", "method", "contributions", "results", "limitations", "translations"})


def record_digests(paper: Paper) -> tuple[str, str]:
    """(hash of the whole record, hash of the record but its prose `ROW_UNSHOWN`): what the keys of the pages and
    search documents made from it start from. Made where the record is parsed and kept with it (`Source.digests`),
    so a build after one edit hashes one record, not each of them once per language."""
    return (hashlib.sha256(paper.model_dump_json().encode()).hexdigest(),
            hashlib.sha256(paper.model_dump_json(exclude=set(ROW_UNSHOWN)).encode()).hexdigest())


@dataclass
class Project:
    """Everything the content folder holds, as typed records; `sources` keeps their positions."""

    root: Path
    papers: dict[str, Paper] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    glossary: Glossary = field(default_factory=lambda: Glossary(terms=[]))
    sources: dict[str, Source] = field(default_factory=dict)  # by record id ("paper:latte") or file name
    rejected: list[Source] = field(default_factory=list)  # papers with schema errors, still checked for tags
    # Records that have errors, by the id they are known by (file name, and `id:` when readable) -> their file:
    # what refers to one says it has errors, not that it does not exist.
    broken: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, tuple[Paper, Source]] = field(default_factory=dict)  # each paper loaded, with its source
    file_keys: dict[str, str] = field(default_factory=dict)  # each record file's cache key (a hash of its bytes)

    def source(self, kind: str, record_id: str) -> Source:
        return self.sources[f"{kind}:{record_id}"]

    def made_from(self, paper: Paper) -> Source | None:
        """The source of `paper` with what was made from it where it was parsed (`bibtex`, `digests`), if `paper`
        is the very record this project loaded; None for a record read again since (`digest serve` puts those
        into a copy of the project)."""
        known = self.parsed.get(paper.id)
        return known[1] if known is not None and known[0] is paper else None

    def digests(self, paper: Paper) -> tuple[str, str]:
        """`record_digests(paper)`, made where it was parsed if it was."""
        src = self.made_from(paper)
        return src.digests if src is not None and src.digests else record_digests(paper)

    @property
    def digested(self) -> dict[str, Paper]:
        """The papers the site publishes as pages (status: digested), by id."""
        return {k: p for k, p in self.papers.items() if p.status == "digested"}

    @property
    def queue(self) -> dict[str, Paper]:
        """Queued records and drafts: listed only on the reading-queue page, by id."""
        return {k: p for k, p in self.papers.items() if p.status != "digested"}


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---- bytes -> text -> nodes -> values, each step bounded and every refusal located ---------------------------

MAX_YAML_BYTES = 1024**2  # a record is a few KB (the largest real one 18 KB); larger is a mistake or an attack
MAX_DEPTH = 40  # records nest about 4 levels
SCAN_DEPTH_OVER = 2000  # libyaml's composer recurses in C and crashes near 30,000 levels: scan events first
# What YAML itself forbids in a stream (PyYAML's reader rejects the same set): C0/C1 controls but tab and line
# breaks, surrogates, U+FFFE and U+FFFF.
NOT_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"))
SAVE_AS_UTF8 = "save the file as UTF-8 (in most editors: Save As / Reopen with Encoding > UTF-8)"
STR = "tag:yaml.org,2002:str"


def read_text(path: Path, rel: str, problems: list[Problem], limit: int = MAX_YAML_BYTES) -> str | None:
    """The file's text if it is UTF-8 of at most `limit` bytes with no control characters, else one located
    problem and None. A UTF-8 byte-order mark is dropped."""
    def refuse(line: int, col: int, message: str, hint: str = SAVE_AS_UTF8) -> None:
        problems.append(Problem(rel, line, col, "", message, hint))

    try:
        with path.open("rb") as handle:  # at most limit + 1 bytes: a 50 MB (or endless) file is never read whole
            data = handle.read(limit + 1)
    except OSError as exc:
        return refuse(1, 1, f"cannot read the file ({exc.strerror or exc})", "check that it is a readable file")
    if len(data) > limit:
        return refuse(1, 1, f"file larger than {limit // 1024} KB, not read",
                      "a record is a few KB of text: is this the right file?")
    for bom, name in BOMS:
        if data.startswith(bom):
            return refuse(1, 1, f"saved as {name} (the file starts with a {name} byte-order mark)")
    data = data.removeprefix(codecs.BOM_UTF8)
    if b"\0" in data and (wide := _utf16_guess(data)):
        return refuse(1, 1, f"saved as {wide} without a byte-order mark (NUL bytes between the letters)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[data.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        return refuse(line, col, f"not UTF-8: byte 0x{data[exc.start]:02X} here is {exc.reason}"
                      f"{_encoding_guess(data)}")
    if (bad := NOT_PRINTABLE.search(text)) is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        code = ord(bad.group())
        return refuse(line, col, f"control character U+{code:04X} cannot appear in a YAML file",
                      "delete it: it usually comes from copying out of a PDF, a terminal or a binary file")
    return text


def _utf16_guess(data: bytes) -> str:
    """"UTF-16"/"UTF-32" when NUL bytes sit between the letters as in those encodings, else ""."""
    head = data[:4000]
    if head.count(0) * 4 >= len(head) * 3:
        return "UTF-32"
    return "UTF-16" if head.count(0) * 3 >= len(head) else ""


def _encoding_guess(data: bytes) -> str:
    """Which common encodings read the bytes cleanly, for the message (Chinese Windows text is usually GBK)."""
    names = []
    for codec, name in (("gb18030", "GBK / GB18030"), ("cp1252", "Windows-1252 / Latin-1")):
        try:
            if NOT_PRINTABLE.search(data.decode(codec)) is None:
                names.append(name)
        except UnicodeDecodeError:
            pass
    return f" (the file reads as {' or '.join(names)} text)" if names else ""


def _crash_deep(text: str, rel: str) -> Problem | None:
    """Nesting deep enough to crash libyaml's composer (it recurses in C), found before composing; the event scan
    runs only when a quick bound on the depth is over SCAN_DEPTH_OVER (never for a real record)."""
    prefix = max((len(line) - len(line.lstrip(" -?:\t")) for line in text.splitlines()), default=0)
    if text.count("[") + text.count("{") + 2 * prefix + 2 <= SCAN_DEPTH_OVER:
        return None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return _deep(rel, event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None  # a syntax error: the parse that follows reports it
    return None


def _deep(rel: str, mark) -> Problem:
    return Problem(rel, mark.line + 1, mark.column + 1, "", f"nested more than {MAX_DEPTH} levels deep",
                   "a record nests a few levels (field, list, item): check the brackets and indentation here")


def _refused_tag(loader, node, tags: bool) -> bool:
    """An explicit tag that changes what the value would be (`!!str` is harmless and allowed); `tags` is False
    when the text has no `!`, hence no tag."""
    return tags and node.tag != STR and node.tag != loader.resolve(yaml.ScalarNode, node.value, (not node.style, True))


def _index(loader, root_node, text: str, src: Source, problems: list[Problem]) -> Problem | None:
    """Record where every value and key stands (iteratively), or return the first YAML feature a record may not
    use: aliases, merge keys and explicit tags have no use in a record, an alias lets 1 KB expand into gigabytes
    ("billion laughs"), and a tag asks for a type the schema never expects."""
    seen: set[int] = set()
    tags = "!" in text
    stack: list[tuple[object, Path_]] = [(root_node, ())]
    while stack:
        node, path = stack.pop()
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if id(node) in seen:  # the composer hands out the anchored node again for each alias
            line, col = _first_alias(text) or (line, col)
            return Problem(src.rel, line, col, "", "YAML aliases (`*name`) are not allowed in a record",
                           "write the value out in full: anchors and aliases have no use in a paper record, "
                           "and they let a small file expand without bound")
        seen.add(id(node))
        if len(path) > MAX_DEPTH:
            return _deep(src.rel, node.start_mark)
        src.marks[path] = (line, col)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:int" and len(node.value) > 100:
                return Problem(src.rel, line, col, "", f"a number of {len(node.value)} digits",
                               "quote it if it is text; no field of a record holds such a number")
            if _refused_tag(loader, node, tags):
                return Problem(src.rel, line, col, "", f"explicit YAML tag `{node.tag}` is not allowed in a record",
                               "remove the `!...` tag; quote the value if it is text")
        elif node.tag not in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
            return Problem(src.rel, line, col, "", f"explicit YAML tag `{node.tag}` is not allowed in a record",
                           "remove the `!...` tag")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (i,)) for i, item in enumerate(node.value))
        else:
            keys: set = set()
            for key_node, value_node in node.value:
                key_at = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    return Problem(src.rel, *key_at, "", "YAML merge keys (`<<`) are not allowed in a record",
                                   "write the keys out in full")
                if not isinstance(key_node, yaml.ScalarNode) or id(key_node) in seen or _refused_tag(loader, key_node, tags):
                    return Problem(src.rel, *key_at, "", "a key must be a plain name (no list, mapping, alias or "
                                   "tag)", "write `name: value` (a `?` starts a complex key)")
                seen.add(id(key_node))
                # the key as the data holds it: `1: x` has the number 1 as its key
                key = key_node.value if key_node.tag == STR else loader.construct_object(key_node)
                if key in keys:
                    problems.append(Problem(src.rel, *key_at, dotted(path + (key,)),
                                            "this key appears twice in the same mapping",
                                            "keep one of them: YAML would silently use the last"))
                keys.add(key)
                src.key_marks[path + (key,)] = key_at
                stack.append((value_node, path + (key,)))
    return None


def _first_alias(text: str) -> tuple[int, int] | None:
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1, event.start_mark.column + 1
    return None


def read_yaml(path: Path, root: Path, problems: list[Problem]) -> Source | None:
    """Parse one file; unreadable bytes, too deep nesting, a syntax error or a refused YAML feature becomes one
    located problem and None."""
    rel = relative(path, root)
    text = read_text(path, rel, problems)
    if text is None:
        return None
    if (problem := _crash_deep(text, rel)) is not None:
        problems.append(problem)
        return None
    loader = Loader(text)
    src, found = Source(rel, None), []
    try:  # one parse: the node tree gives the marks, and the values are constructed from the same tree
        node = loader.get_single_node()
        if node is not None:
            if (problem := _index(loader, node, text, src, found)) is not None:
                problems.append(problem)
                return None
            src.data = loader.construct_document(node)
        problems += found
    except yaml.MarkedYAMLError as exc:  # syntax errors carry a mark
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(rel, line, col, "", f"YAML syntax error: {exc.problem or exc.context}",
                                "check indentation and quoting; text with ': ' or '#' needs quotes"))
        return None
    finally:
        loader.dispose()
    src.mentions_todo = "TODO" in text
    src.todo_comments = [(i, line.index("# TODO") + 1, line.split("# TODO", 1)[1].strip(" :"))
                         for i, line in enumerate(text.splitlines(), 1) if "# TODO" in line] if src.mentions_todo else []
    return src


# ---- schema errors -> located, readable problems -------------------------------------------------------------

PATTERN_HINTS = {
    "^[a-z0-9]+(-[a-z0-9]+)*$": "expected a lowercase slug such as `my-paper` (letters, digits, single hyphens)",
    ARXIV_PATTERN: "expected an arXiv id such as `2401.03048` or `cs/0112017` (quoted, without `arXiv:` or a "
                   "version)",
    r"^https?://[^\s]+$": "expected an http(s) URL such as `https://github.com/org/repo`",
    r"^10\.\d{4,9}/\S+$": "expected a DOI such as `10.1145/3626202.3637562` (without https://doi.org/)",
}


def _type_name(value) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _model_at(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model class that describes the mapping at `path` (for 'did you mean' on unknown keys)."""
    for part in path:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        found = None
        stack = [info.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                found = t
                break
            stack.extend(typing.get_args(t))
        if found is None:
            return None
        model = found
    return model


def _data_path(loc: tuple, data) -> Path_:
    """The part of a pydantic location that exists in the data (drops union-member tags)."""
    path: list = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            break
        path.append(part)
    return tuple(path)


def _message(err: dict, model: type[BaseModel], path: Path_, value) -> tuple[str, str]:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "missing":
        return "required field is missing", f"add `{err['loc'][-1]}:` (see docs/dev/record-format.md)"
    if kind == "extra_forbidden":
        parent = _model_at(model, path[:-1]) or model
        close = difflib.get_close_matches(str(path[-1]), list(parent.model_fields), n=1, cutoff=0.6)
        allowed = ", ".join(parent.model_fields)
        return "unknown key", (f"did you mean `{close[0]}`?" if close else f"allowed keys: {allowed}")
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(ctx.get("pattern"), f"expected text matching {ctx.get('pattern')}") + \
            f", got {value!r}", ""
    if kind in ("string_type", "string_too_short"):
        return f"expected text, got {_type_name(value) if value != '' else 'empty text'}", ""
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        keys = _model_at(model, path)
        fields = ", ".join(keys.model_fields) if keys else ""
        return f"expected a mapping{' with ' + fields if fields else ''}, got {_type_name(value)}", \
            ("bilingual text is written `{en: ..., zh: ...}`" if keys and "en" in keys.model_fields else "")
    if kind == "list_type":
        return f"expected a list, got {_type_name(value)}", "write items as `[a, b]` or one `- item` per line"
    if kind == "too_short":
        return "expected at least one item", ""
    if kind.startswith("date"):
        return f"expected a date YYYY-MM-DD, got {value!r}", "for example `published: 2024-01-05`"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {value!r}", ""
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type"):
        return f"expected a number or text, got {_type_name(value)}", ""
    if kind == "invalid_key":
        return "a key must be text", "quote it: `\"1\": ...`"
    if kind == "value_error":
        hint = "for example `published: 2024-01-05`, or `2024-01` or `2024` when the source gives no more" \
            if path == ("published",) else ""
        return str(ctx.get("error", err["msg"])), hint
    return err["msg"], ""


def _incomplete(name: str, src: Source) -> Problem:
    """A field that a digested record needs, located at `status:` when the record has one."""
    line, col = src.key_marks.get(("status",)) or (1, 1)
    status = "status: digested" if ("status",) in src.key_marks else "no `status` (so: digested)"
    return Problem(src.rel, line, col, name, f"required field is missing: the record says {status}, and a "
                   "digested record has a venue, tags, a TL;DR, a summary and contributions",
                   f"write `{name}:` (see docs/dev/record-format.md), or set `status: draft` while the digest "
                   "is being written (`status: queued` for a paper not yet read)")


def schema_problems(exc: ValidationError, model: type[BaseModel], src: Source) -> list[Problem]:
    out: dict[tuple, Problem] = {}
    for err in exc.errors():
        if isinstance(err.get("ctx", {}).get("error"), IncompleteRecord):
            out.update({(name,): _incomplete(name, src) for name in err["ctx"]["error"].missing})
            continue
        loc = tuple(err["loc"])
        path = _data_path(loc, src.data)
        if err["type"] in ("missing", "extra_forbidden"):
            path = loc[: len(path) + 1]
        value = err.get("input")
        message, hint = _message(err, model, path, value)
        key = err["type"] in ("missing", "extra_forbidden")
        problem = src.problem(path, message, hint, key=key)
        out.setdefault((path, message if not path else ""), problem)  # one problem per union field
    return list(out.values())


def _validate(model: type[BaseModel], src: Source, problems: list[Problem]):
    if not isinstance(src.data, dict):
        problems.append(src.problem((), f"expected a mapping of fields, got {_type_name(src.data)}",
                                    "a record starts with `id: ...` on its first line"))
        return None
    try:
        return model.model_validate(src.data)
    except ValidationError as exc:
        problems.extend(schema_problems(exc, model, src))
        return None


class RecordCache:
    """Records that loaded without a problem, kept between runs by a hash of the file's bytes and of this loader:
    a record parsed once is not parsed again until it changes (1,000 records: the load stage's seconds become a
    read of a few files). It lives in the project's own `.cache/` (never in git), like the compiled templates,
    in 256 shards by the key's first two hex digits, so that a run after one edit rewrites two small files, not
    every record (10,000 records: 6.8 s to rewrite one file). A shard that cannot be read is rebuilt."""

    FOLDER = Path(".cache") / "records"
    CODE = hashlib.sha256(Path(__file__).read_bytes() + (Path(__file__).parent / "schema.py").read_bytes()
                          + (Path(__file__).parent / "bibtex.py").read_bytes() + yaml.__version__.encode()
                          + pydantic.VERSION.encode() + importlib.metadata.version("bibtexparser").encode()
                          ).hexdigest()

    def __init__(self, root: Path):
        self.folder = root / self.FOLDER
        self.known: dict[str, tuple] = {}
        self.shards: set[str] = set()  # the shards on disk
        for path in sorted(self.folder.glob("*.pickle")) if self.folder.is_dir() else ():
            self.shards.add(path.stem)
            try:
                with path.open("rb") as f:
                    code, entries = pickle.load(f)
                if code == self.CODE:
                    self.known.update(entries)
            except Exception:  # noqa: BLE001 - truncated, or from another version: its records are parsed again
                pass
        self.used: dict[str, tuple] = {}

    @staticmethod
    def key(rel: str, data: bytes) -> str:
        return hashlib.sha256(rel.encode() + b"\0" + data).hexdigest()

    def get(self, key: str):
        found = self.known.get(key)
        if found is not None:
            self.used[key] = found
        return found

    def put(self, key: str, src: Source, record) -> None:
        if not isinstance(src.marks, PackedMarks):
            src.marks, src.key_marks = PackedMarks(src.marks), PackedMarks(src.key_marks)
        self.used[key] = (src, record)

    def save(self) -> None:
        """Rewrite the shards whose records changed (added, or no longer used); remove the emptied ones."""
        def by_shard(entries):
            out: dict[str, dict] = {}
            for key, value in entries.items():
                out.setdefault(key[:2], {})[key] = value
            return out

        used, known = by_shard(self.used), by_shard(self.known)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for shard in sorted(used.keys() | known.keys() | self.shards):
                path = self.folder / f"{shard}.pickle"
                if shard not in used:
                    path.unlink(missing_ok=True)
                elif used[shard].keys() != known.get(shard, {}).keys() or shard not in self.shards:
                    with replacing(path) as f:
                        pickle.dump((self.CODE, used[shard]), f, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - a read-only checkout, a full disk: the cache only saves time
            pass


# What builds write into a project and read back as their own: pickles and compiled templates, which run as code
# when read, and Markdown trees and page keys, which a build publishes as they are when the keys match.
BUILD_STATE = (".cache", "build", ".site.old")


def refuse_committed_caches(root: Path) -> None:
    """Raise DigestError if the repository holds any of the builds' own state (`BUILD_STATE`): it must come from
    this machine's builds, never from a commit. A pull request that added `.cache/records/*.pickle` would run its
    code in the build that publishes the site, and one that added `build/docs/` with matching page keys would have
    its HTML published unchecked. Needs git; a folder that is in no repository has nothing committed (git fails)."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", *BUILD_STATE],
                                capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):  # no git here: nothing can be checked, as outside a repository
        return
    committed = [name for name in listed.stdout.decode("utf-8", "replace").split("\0") if name]
    if listed.returncode == 0 and committed:
        raise DigestError([Problem(committed[0], 0, 0, "", f"{len(committed)} file(s) of the builds' own state "
                                   f"({', '.join(BUILD_STATE)}) are committed to the repository: builds read them "
                                   "back as their own (pickles, compiled code, pages published as they are)",
                                   "remove them from git: git rm -r --cached --ignore-unmatch "
                                   + " ".join(BUILD_STATE) + ", and keep them in .gitignore")])


def load_project(root: Path, meanwhile: Callable[[Project], object] | None = None) -> tuple[Project, list[Problem]]:
    """Read every record under `root/content`; records with schema errors are left out of the project.
    `meanwhile`: work for this process while worker processes parse the records, if they do (`parse_records`),
    given the project as it is then: its tags and glossary, no records yet."""
    content = root / "content"
    project, problems = Project(root=root), []
    refuse_committed_caches(root)
    cache = RecordCache(root)
    if not content.is_dir():
        raise DigestError(f"{relative(content, root)}: no content folder here; run digest in the project folder")

    tags_src = read_yaml(content / "tags.yaml", root, problems) if (content / "tags.yaml").exists() else None
    if tags_src is not None:
        if not isinstance(tags_src.data, dict):
            problems.append(tags_src.problem((), "expected a mapping `tag-id: {en: ..., zh: ...}`"))
        else:
            for tag_id, value in tags_src.data.items():
                sub = Source(tags_src.rel, value, {k[1:]: v for k, v in tags_src.marks.items() if k[:1] == (tag_id,)})
                tag = _validate(Tag, sub, problems)
                if tag is not None:
                    project.tags[str(tag_id)] = tag
            project.sources["tags"] = tags_src

    glossary_file = content / "glossary.yaml"
    if glossary_file.exists() and (src := read_yaml(glossary_file, root, problems)) is not None:
        if (glossary := _validate(Glossary, src, problems)) is not None:
            project.glossary = glossary
        project.sources["glossary"] = src

    files = []  # (kind, model, table, path, rel, cache key, what the cache holds) of every record file, in order
    for kind, folder, model, table in (("paper", "papers", Paper, project.papers),
                                       ("collection", "collections", Collection, project.collections)):
        folder_rel = relative(content / folder, root)  # resolved once, not for each of a thousand files
        for path in sorted((content / folder).glob("*")):
            if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
                continue
            rel = relative(path, root) if path.is_symlink() else f"{folder_rel}/{path.name}"
            try:
                key = cache.key(rel, path.read_bytes()) if path.stat().st_size <= MAX_YAML_BYTES else None
            except OSError:
                key = None
            files.append((kind, model, table, path, rel, key, cache.get(key) if key else None))
            if key:
                project.file_keys[str(path)] = key
    parsed = parse_records([(path, model) for _, model, _, path, _, _, found in files if found is None], root,
                           (lambda: meanwhile(project)) if meanwhile is not None else None)
    for kind, model, table, path, rel, key, found in files:
        if found is not None:
            src, record = found
        else:
            src, record, found_problems = parsed[path]
            problems += found_problems
            if src is None:
                project.broken.setdefault(f"{kind}:{path.stem}", rel)
                continue
            if record is not None and key and not found_problems:
                cache.put(key, src, record)
        src.key = key
        if record is None:
            if kind == "paper":
                project.rejected.append(src)
            project.broken.setdefault(f"{kind}:{path.stem}", rel)
            if isinstance(src.data, dict) and isinstance(src.data.get("id"), str):
                project.broken.setdefault(f"{kind}:{src.data['id']}", rel)
            continue
        if record.id != path.stem:
            problems.append(src.problem(("id",), f"id `{record.id}` differs from the file name `{path.stem}`",
                                        f"rename the file to {record.id}{path.suffix} or set `id: {path.stem}`"))
            project.broken.setdefault(f"{kind}:{path.stem}", rel)
            project.broken.setdefault(f"{kind}:{record.id}", rel)
            continue
        if record.id in table:
            first = project.source(kind, record.id)
            problems.append(src.problem(("id",), f"duplicate {kind} id `{record.id}` (also in {first.rel}:"
                                        f"{first.locate(('id',))[0]})", "each id may be used once: rename "
                                        "one of the two files and its id"))
            continue
        table[record.id] = record
        project.sources[f"{kind}:{record.id}"] = src
        if kind == "paper":
            project.parsed[record.id] = (record, src)
    cache.save()
    return project, problems


PARALLEL_PARSE = 200  # records the cache lacks from which parsing is split between two processes


def parse_records(files: list[tuple[Path, type[BaseModel]]], root: Path,
                  meanwhile: Callable[[], object] | None = None) -> dict[Path, tuple]:
    """{path: (source or None, record or None, its problems)} for each record file. Many (a first build, a
    fresh clone: 1,000 records take 1.9 s) are parsed by two forked processes, and come back pickled, as the
    records cache keeps them; this process does `meanwhile` while they parse (only then: the build loads jieba's
    dictionary in that time, and later, or not at all, when it has the records already)."""
    if len(files) >= PARALLEL_PARSE and (os.cpu_count() or 1) > 1 and \
            "fork" in multiprocessing.get_all_start_methods():
        _PARSE_JOB[:] = [files, root]
        try:
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
                parts = [pool.submit(_parse_part, part, 2) for part in range(2)]
                if meanwhile is not None:
                    meanwhile()
                return {path: result for part in parts for path, result in part.result()}
        except BrokenProcessPool:  # a worker was killed (memory): parse here, where the error can be reported
            pass
        finally:
            _PARSE_JOB.clear()
    return {path: _parse_record(path, model, root) for path, model in files}


_PARSE_JOB: list = []  # parse_records' files and root, inherited by the forked processes


def _parse_part(part: int, parts: int) -> list[tuple[Path, tuple]]:
    # The cyclic garbage collector is off while records load (build.check), and so it is here: a thousand
    # records parse a tenth faster, and leave 33 objects of cyclic garbage (the same peak memory).
    files, root = _PARSE_JOB
    return [(path, _parse_record(path, model, root)) for path, model in files[part::parts]]


def _parse_record(path: Path, model: type[BaseModel], root: Path) -> tuple:
    problems: list[Problem] = []
    src = read_yaml(path, root, problems)
    record = None if src is None else _validate(model, src, problems)
    if record is not None and not problems:  # as the records cache keeps it (smaller to send back, too)
        src.marks, src.key_marks = PackedMarks(src.marks), PackedMarks(src.key_marks)
        if isinstance(record, Paper):  # here, in the parsing processes, not for every record in the build's
            try:
                src.bibtex = bibtex.entry_text(record)
            except Exception:  # noqa: BLE001 - the build makes it again, where its error is reported
                pass
            src.digests = record_digests(record)
    return src, record, problems


def load_paper(path: Path, root: Path) -> tuple[Paper | None, list[Problem]]:
    """One paper record on its own (what `digest serve` rereads after an edit); None when it has errors."""
    problems: list[Problem] = []
    src = read_yaml(path, root, problems)
    paper = None if src is None else _validate(Paper, src, problems)
    if paper is not None and paper.id != path.stem:
        problems.append(src.problem(("id",), f"id `{paper.id}` differs from the file name `{path.stem}`",
                                    f"rename the file to {paper.id}{path.suffix} or set `id: {path.stem}`"))
        paper = None
    return paper, problems
