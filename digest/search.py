"""Search stage: one compact index per language, written into the built site for the theme's search box.

Material's search plugin indexes the full HTML of every page and the browser downloads all of it before the first
search (8.1 MB en, 17.9 MB zh at 1,000 papers); jieba's plain cut keeps compounds whole (注意力 misses 自注意力), and
its worker matches every query segment as a prefix (长上下文 -> 长*). This index is built from the records instead:

- one document per page, papers first: title, TL;DR and tags weigh more than body text, and listing-like pages
  (tags, collections, the glossary) carry a lower boost, so a topic query lands on the papers;
- Chinese text cut by jieba's search mode (自注意力 -> 注意, 注意力, 自注意力) with the glossary's Chinese terms as words;
- a page that uses either side of a glossary pair (or a synonym the glossary lists) is also found by the other
  side: those words go into the term index only, never into the text a reader sees;
- an inverted index (term -> documents and weights) instead of full text: `search/search_index.json` keeps
  Material's format for what a result shows (title, TL;DR, tags), `search/terms.json` holds the postings.

`templates/assets/search-worker.js` answers Material's search box with this index (same dialog, keys, results).
`normalize`, `stem` and the tokenizers below have twins in that worker: change them together. Chinese text is cut
by jieba-rs (`rjieba`), jieba's own dictionary (`dictionary`) gives each word's frequency.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import importlib.metadata
import itertools
import json
import logging
import marshal
import mmap
import re
import sys
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from digest.files import Pack, replacing
from digest.load import Project
from digest.render import by_date, interface_strings
from digest.schema import Paper, Text, TextList

# Field weights: what a match in each part of a page is worth (body text = 1).
TITLE, TAGS, TLDR, AUTHORS, RESULTS, SYNONYM, BODY = 12, 8, 6, 4, 2, 3, 1
COMMON = 5000           # jieba dictionary frequency above which a Chinese word is everyday language (模型: 2890)
MAX_WEIGHT = 31          # weights are stored in 5 bits (posting = gap << 5 | weight, see `varint`)
# Listing-like pages: found by their name, but after the papers they list.
BOOST = {"paper": 1.0, "collection": 0.5, "tag": 0.3, "glossary": 0.2, "page": 0.3, "section": 0.2}
# Material's defaults for the language (the worker ignores them; Material's on-page highlighter reads `separator`).
MATERIAL_CONFIG = {
    "en": {"lang": ["en"], "separator": r"[\s\-]+", "pipeline": [], "fields": {}},
    "zh": {"lang": ["zh"], "separator": r"[\s\-，。]+", "pipeline": [], "fields": {}},
}
STOP = set("a an and are as at be by can for from has in into is it its of on or per than that the their this to "
           "was were which with".split()) | set("的 了 和 与 及 在 是 把 被 对 以 而 其 也 都 就 这 那 个 为 等 之 或 中 上 下 从 到 将"
                                                  .split())
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
LATIN = re.compile(r"[^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")  # words of any other script
_FRAGMENT = re.compile(r"\d+|.|[a-z]{2}")
MARKDOWN = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|\]\([^)]*\)|<[^>]*>|[*_`#>|\[\]]", re.S)


def normalize(text: str) -> str:
    """Full-width forms folded (ＦＰＧＡ -> fpga), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@functools.lru_cache(maxsize=None)
def stem(word: str) -> str:
    """A light English stem, the same in the worker: plurals, -ise/-ize spellings and their forms meet
    (quantised, quantization, quantizers -> quantize)."""
    if len(word) > 5:
        word = _ZE.sub("ize", _SE.sub(r"iz\1", word))
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_SE = re.compile(r"is(e|ed|es|ing|ation|ations|er|ers)$")
_ZE = re.compile(r"iz(ation|ations|ed|es|ing|er|ers)$")


@functools.cache
def import_jieba():
    """jieba, imported without pkg_resources. jieba's `_compat` opens its model files through pkg_resources
    when that imports, else from its own folder (the same files); importing pkg_resources scans every installed
    distribution, five sixths of jieba's import (0.13 s of 0.15). Material's search plugin imports jieba too, in
    every build: the build imports it first, before its workers fork (`_build_site`)."""
    blocked = "pkg_resources" not in sys.modules
    if blocked:
        sys.modules["pkg_resources"] = None  # an ImportError for this import only
    try:
        import jieba
    finally:
        if blocked:
            del sys.modules["pkg_resources"]
    jieba.setLogLevel(logging.WARNING)
    return jieba


def load_dictionary(tokenizer=None, lazy: bool = False) -> None:
    """jieba's dictionary, loaded now if it is not yet. jieba reads its cache file (the default dictionary's
    498,113 prefixes and frequencies, marshalled) with `marshal.load` on the open file, which takes 0.95 s;
    the same file read into memory first loads in 0.2 s. Anything else (no cache file yet, another dictionary)
    is left to jieba. `tokenizer`: jieba's default one unless given. `lazy`: the words are read a first character
    at a time when looked up (`ShardedFreq`), for a process that cuts a few texts (a build after an edit)."""
    jieba = import_jieba()
    tokenizer = tokenizer or jieba.dt
    if tokenizer.initialized:
        return
    cache = Path(tokenizer.tmp_dir or tempfile.gettempdir()) / "jieba.cache"
    if tokenizer.dictionary == jieba.DEFAULT_DICT and not tokenizer.cache_file and cache.is_file():
        with tokenizer.lock:
            sharded = ShardedFreq.open(cache) if lazy else None
            if sharded is not None:
                tokenizer.FREQ, tokenizer.total, tokenizer.initialized = sharded, sharded.total, True
                return
            try:
                tokenizer.FREQ, tokenizer.total = marshal.loads(cache.read_bytes())
                tokenizer.initialized = True
            except Exception:  # noqa: BLE001 - unreadable or from another version: jieba rebuilds it
                pass
            if lazy and tokenizer.initialized:
                ShardedFreq.write(cache, tokenizer.FREQ, tokenizer.total)  # for the next process
    tokenizer.check_initialized()


class ShardedFreq(dict):
    """jieba's dictionary (word or prefix -> frequency) that reads the words of a first character when one of them
    is first looked up, from a file made once from jieba's cache (`write`: the words in one marshalled dict per
    first character, and where each is). jieba looks up only words that occur in the text it cuts, so a build
    after an edit reads a few hundred of the 10,000 parts (a few ms) instead of the whole dictionary (0.2 s). Every
    way jieba and this module read or change the dictionary (`in`, `[]`, `get`, `pop`, setting) reads the part
    first; nothing iterates it."""

    VERSION = 1

    def __init__(self, path: Path, total: int, where: dict[str, tuple[int, int]], start: int, cache: Path):
        super().__init__()
        self.path, self.total, self.where, self.start, self.read = path, total, where, start, set()
        self.cache = cache  # jieba's own, read whole if a part cannot be read
        self.map: mmap.mmap | None = None

    @staticmethod
    def file_for(cache: Path) -> Path:
        """The parts' file of jieba's cache file `cache`: named by its size and time and jieba's version."""
        stat = cache.stat()
        key = hashlib.sha256(repr((ShardedFreq.VERSION, str(cache), stat.st_size, stat.st_mtime_ns,
                                   importlib.metadata.version("jieba"))).encode()).hexdigest()[:16]
        return cache.with_name(f"paper-digest-jieba.{key}.parts")

    @classmethod
    def open(cls, cache: Path) -> ShardedFreq | None:
        try:
            path = cls.file_for(cache)
            with path.open("rb") as f:
                size = int.from_bytes(f.read(8), "little")
                total, where = marshal.loads(f.read(size))
            return cls(path, total, where, 8 + size, cache)
        except Exception:  # noqa: BLE001 - none yet, or unreadable: the whole dictionary is loaded
            return None

    @classmethod
    def write(cls, cache: Path, freq: dict[str, int], total: int) -> None:
        parts: dict[str, dict[str, int]] = defaultdict(dict)
        for word, count in freq.items():
            parts[word[:1]][word] = count
        blobs, where, offset = [], {}, 0
        for first, words in parts.items():
            blob = marshal.dumps(words)
            where[first] = (offset, len(blob))
            blobs.append(blob)
            offset += len(blob)
        head = marshal.dumps((total, where))
        try:
            with replacing(cls.file_for(cache)) as f:
                f.write(len(head).to_bytes(8, "little") + head)
                f.writelines(blobs)
        except OSError:  # it only saves time
            pass

    def _read(self, first: str) -> None:
        self.read.add(first)
        found = self.where.get(first)
        if found is None:
            return
        try:
            if self.map is None:
                with self.path.open("rb") as f:
                    self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            start = self.start + found[0]
            # None of these words is here yet: whatever sets or removes a word reads its part first.
            dict.update(self, marshal.loads(self.map[start:start + found[1]]))
        except Exception:  # noqa: BLE001 - a damaged parts file: every part not read yet, from jieba's cache
            words, _ = marshal.loads(self.cache.read_bytes())
            for word, count in words.items():
                if word[:1] not in self.read or word[:1] == first:
                    dict.__setitem__(self, word, count)
            self.read.update(self.where)
            self.where = {}

    def __contains__(self, word) -> bool:
        if word[:1] not in self.read:
            self._read(word[:1])
        return dict.__contains__(self, word)

    def __getitem__(self, word):
        if word[:1] not in self.read:
            self._read(word[:1])
        return dict.__getitem__(self, word)

    def get(self, word, default=None):
        if word[:1] not in self.read:
            self._read(word[:1])
        return dict.get(self, word, default)

    def __setitem__(self, word, count) -> None:
        if word[:1] not in self.read:
            self._read(word[:1])
        dict.__setitem__(self, word, count)

    def pop(self, word, *default):
        if word[:1] not in self.read:
            self._read(word[:1])
        return dict.pop(self, word, *default)


# What add_words changed in jieba's dictionary, to be undone before the next project's words: each key it set
# with the value it had (None: absent), and the total frequency before.
_ADDED: list[tuple[str, int | None]] = []
_TOTAL_BEFORE: list[int] = []
_WORDS: list[list[str]] = [[], []]  # the words of the project being indexed, and those in the dictionary now


def add_words(project: Project) -> None:
    """The glossary's Chinese terms (and synonyms) and the tag labels as jieba words: 长上下文 stays one term.
    They go into jieba's dictionary when it is loaded (`dictionary`), which is only when new Chinese text is cut:
    a build that indexes no new text does without it (a quarter of a second). jieba's dictionary is one per
    process: the words an earlier call added are taken out first, so that a project indexed earlier in the
    process (a test run, `digest serve` after an edit) does not change this one's index. (An undo log, not a
    copy of the dictionary: a copy is tens of MB in every process that indexes.)"""
    words = chinese_words(project)
    _WORDS[0] = words
    _TERMS_BY_FIRST.clear()
    for word in words:
        _TERMS_BY_FIRST.setdefault(word[0], []).append(word)
    _FIRSTS[0] = re.compile("[" + "".join(map(re.escape, sorted(_TERMS_BY_FIRST))) + "]") if words else None
    jieba = sys.modules.get("jieba")  # not imported yet (a tenth of a second): its dictionary is not loaded either
    if jieba is not None and jieba.dt.initialized and not isinstance(jieba.dt.FREQ, ShardedFreq):
        # Loaded already (a build loads it while it parses records it has not seen): text will be cut, so jieba-rs
        # is made here too, before the build forks its workers, which then share its 57 MB instead of each
        # making its own.
        dictionary()
        segmenter()


def dictionary():
    """jieba's tokenizer with its dictionary loaded and the words of the last `add_words` in it."""
    jieba = import_jieba()
    tokenizer = jieba.dt
    load_dictionary(lazy=True)  # unless a build loaded it whole to cut many texts
    if _WORDS[1] is _WORDS[0]:
        return tokenizer
    for key, before in reversed(_ADDED):
        if before is None:
            tokenizer.FREQ.pop(key, None)
        else:
            tokenizer.FREQ[key] = before
    if _TOTAL_BEFORE:
        tokenizer.total = _TOTAL_BEFORE.pop()
    _ADDED.clear()
    _TOTAL_BEFORE.append(tokenizer.total)
    for word in _WORDS[0]:
        # jieba.add_word sets the word's frequency and adds each of its prefixes that is not a key yet.
        _ADDED.extend((word[:n], tokenizer.FREQ.get(word[:n])) for n in range(len(word), 0, -1))
        jieba.add_word(word)  # jieba picks a frequency that keeps the word whole
    _WORDS[1] = _WORDS[0]
    return tokenizer


def chinese_words(project: Project) -> list[str]:
    words = [t.zh for t in project.glossary.terms] + [tag.zh for tag in project.tags.values()]
    words += [s for t in project.glossary.terms if t.synonyms for s in (t.synonyms.zh or [])]
    return sorted({w for w in words if HAN.fullmatch(w)})


def tokens(text: str) -> list[str]:
    """Search terms of a text, in order: stemmed Latin words, and jieba search-mode words for Chinese
    (every dictionary word inside a compound, then the compound), plus every glossary or tag term a run of
    Chinese contains where jieba cut across it (自注意力机制 -> 自 + 注意力机制: 自注意力 is added)."""
    text = normalize(text)
    if not HAN.search(text):
        return [stem(w) for w in LATIN.findall(text) if w not in STOP]
    out = []
    # One call per text (jieba's per-call overhead is large); no HMM guesses at unknown words: they are
    # rarely what a reader types, and an unknown run falls back to single characters.
    for piece in cut_for_search(text):
        found = _PIECES.get(piece)
        if found is None:
            found = _PIECES[piece] = _piece_terms(piece)
        out += found
    seen = set(out)
    return out + [w for w in _terms_in(text) if w not in seen]


_PIECES: dict[str, tuple[str, ...]] = {}  # a cut's piece -> its terms (words recur: each is looked at once)


def _piece_terms(piece: str) -> tuple[str, ...]:
    """The terms of one piece of jieba's cut: a Chinese word, or the stemmed Latin words of anything else."""
    if HAN.fullmatch(piece):
        return () if piece in STOP else (piece,)
    return tuple(stem(w) for w in LATIN.findall(piece) if w not in STOP)


_TERMS_BY_FIRST: dict[str, list[str]] = {}
_FIRSTS: list[re.Pattern | None] = [None]  # the first characters of those terms, as a character class


@functools.lru_cache(maxsize=4)
def _segmenter(words: tuple[str, ...]):
    """jieba-rs (Rust) with jieba's dictionary, which it carries, and `words` added as `jieba.add_word` adds them
    (each at a frequency that keeps it whole). Its search-mode cut is jieba's, word for word
    (`tests/test_search.py` compares the two on every text of every record), in a twenty-fifth of jieba's time
    and a thirteenth of the Python rewrite's that it replaces (bench/alternatives.py). One per set of words: a
    word added cannot be taken out."""
    import rjieba

    segmenter = rjieba.Jieba()
    for word in words:
        segmenter.add_word(word, None, None)
    _MADE.add(words)
    return segmenter


_MADE: set[tuple[str, ...]] = set()  # the sets of words jieba-rs was made with in this process
# Characters that jieba's own cut (Python, 2 us a character) takes in a process before jieba-rs is made: making
# it is a fifth of a second (as long as 100,000 characters take), which a build after an edit of Chinese text would
# spend on one record's texts and the glossary's terms; jieba's dictionary is loaded by then anyway (the
# everyday-word test of `IndexBuilder.make` reads it).
PYTHON_CUT_CHARS = 25_000
_PYTHON_CUT = [0]


def segmenter():
    """jieba-rs with the words of the last `add_words` (made when first asked for: a tenth of a second)."""
    return _segmenter(tuple(_WORDS[0]))


def cut_for_search(text: str) -> list[str]:
    """`jieba.cut_for_search(text, HMM=False)`: each word of the most probable cut (the path through the
    dictionary's words that maximises the sum of log(frequency / total)), each preceded by the dictionary words
    of two and three characters inside it; the project's words (`add_words`) are dictionary words. jieba's own
    cut for a process's first PYTHON_CUT_CHARS characters, unless jieba-rs is made already; jieba-rs after."""
    if _PYTHON_CUT[0] + len(text) <= PYTHON_CUT_CHARS and tuple(_WORDS[0]) not in _MADE:
        _PYTHON_CUT[0] += len(text)
        return list(dictionary().cut_for_search(text, HMM=False))
    return segmenter().cut_for_search(text, False)


def _terms_in(text: str) -> list[str]:
    """Glossary and tag terms (add_words) that occur in a text, in order: where a term's first character is (one
    scan by a character class), each term that starts there."""
    if _FIRSTS[0] is None:
        return []
    return [term for m in _FIRSTS[0].finditer(text) for term in _TERMS_BY_FIRST[m.group()]
            if text.startswith(term, m.start())]


def plain(markdown: str) -> str:
    """Readable text of a Markdown field: markup, link targets and math dropped."""
    # str.split() splits at what `\s` matches (str.isspace), a quarter of the time of re.sub(r"\s+", " ", ...).strip()
    return " ".join(MARKDOWN.sub(" ", markdown).split())


class Markdown(str):
    """Markdown text in a document's recipe (`IndexBuilder.doc`): made plain only when the document is made."""


def _plain(text: str) -> str:
    return plain(text) if isinstance(text, Markdown) else text


@dataclass
class Doc:
    location: str
    title: str
    text: str
    kind: str
    tags: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, text: str, weight: int, terms=tokens) -> list[str]:
        """Index `text` at `weight` (repeats count, up to the cap); returns its terms (`terms` of the text). Body
        text leaves out what nobody searches a paper's body for (numbers, single characters, two-letter
        fragments): they would cost the download without finding anything."""
        words = terms(text)
        weights = self.weights
        for word in words if weight > BODY else [w for w in words if not _is_fragment(w)]:
            weights[word] = min(MAX_WEIGHT, weights[word] + weight)
        return words


@dataclass
class Pending:
    """A page's document before it is read or made: its key (a hash of what it is made from) and how to get it."""

    key: str
    get: Callable[[], Doc]


def _read_doc(kept: str) -> tuple[Doc, list[str]]:
    """A kept document (`IndexBuilder.make`'s JSON) and the keys of the texts' terms it used."""
    fields = json.loads(kept)
    terms = fields.pop("terms")
    return Doc(**fields), terms  # read only from here on: its weights stay a plain dict


@functools.lru_cache(maxsize=65536)
def _is_fragment(word: str) -> bool:
    return _FRAGMENT.fullmatch(word) is not None


class Synonyms:
    """Glossary pairs and tag labels as term sequences: a page using one form of a term is also indexed under
    the others."""

    def __init__(self, project: Project, terms=tokens):
        self.forms: dict[tuple[str, ...], list[str]] = {}  # terms of a form -> terms of every form of that term
        for names in self.pairs(project):
            words = sorted({w for name in names for w in terms(name)})
            for name in names:
                # A Chinese term is one jieba word (add_words), emitted whole after its parts: match it alone.
                key = (normalize(name),) if HAN.fullmatch(name) else tuple(terms(name))
                if key:
                    self.forms[key] = sorted(set(self.forms.get(key, [])) | set(words))
        self.lengths: dict[str, list[int]] = {}  # the lengths of the forms that start with each term
        for key in self.forms:
            self.lengths[key[0]] = sorted({*self.lengths.get(key[0], ()), len(key)})
        self.starts = set(self.lengths)

    @staticmethod
    def pairs(project: Project) -> list[list[str]]:
        """Each tag's labels, and each glossary term's forms with its synonyms."""
        pairs = [[tag.en, tag.zh] for tag in project.tags.values()]
        for term in project.glossary.terms:
            pairs.append([term.en, term.zh])
            if term.synonyms:
                pairs[-1] += (term.synonyms.en or []) + (term.synonyms.zh or [])
        return pairs

    def found_in(self, words: list[str]) -> dict[tuple[str, ...], list[str]]:
        """{terms of a glossary form that occur in sequence in `words`: the terms of all its forms}."""
        found = {}
        # Only where a form can start: the positions are picked out at C speed (a page has a thousand words).
        for i in itertools.compress(itertools.count(), map(self.starts.__contains__, words)):
            for n in self.lengths[words[i]]:
                key = tuple(words[i:i + n])
                if key in self.forms:
                    found[key] = self.forms[key]
        return found


KEPT = object()  # a value of `IndexBuilder.made`: the text the last build kept under that key, carried over unread


class IndexBuilder:
    """The documents of one language's site, from the records."""

    def __init__(self, project: Project, lang: str, strings: dict):
        self.project, self.lang, self.t = project, lang, strings
        self.other = "zh" if lang == "en" else "en"
        # Documents and texts' terms as JSON by key (`doc`, `terms`): `known` from the last build (read when used;
        # after one edit of 1,000 papers a build read and rewrote each language's 5 MB of them), `made` by this
        # one (or KEPT: carried over unread); the keys of the kept terms that the document being made used.
        self.known: Pack | None = None
        self.made: dict[str, str | object] = {}
        self.terms_used: list[str] = []
        self.term_keys: set[str] = set()  # the keys of texts' terms among `made`
        # jieba's and jieba-rs's versions from their metadata: importing jieba (a tenth of a second, most of it
        # pkg_resources) waits until text is cut.
        self.base_key = hashlib.sha256(Path(__file__).read_bytes() + repr(
            (lang, importlib.metadata.version("jieba"), importlib.metadata.version("rjieba"), project.glossary,
             sorted(project.tags.items()))).encode()
        ).hexdigest()

    @functools.cached_property
    def synonyms(self) -> Synonyms:  # made when a new document needs it: it cuts every glossary term
        return Synonyms(self.project, self.terms)

    def terms(self, text: str) -> list[str]:
        """`tokens` of a text. In the English index the Chinese text is titles and glossary and tag names: their
        terms are kept by content (`known`, `made`), so that an edit of English text, which makes its paper's
        English document again, does not load jieba's dictionary (a fifth of a second of that worker's time).
        In the Chinese index a document is made again because some Chinese text changed, which is cut anyway."""
        if self.lang == "zh" or not HAN.search(text):
            return tokens(text)
        key = self.terms_key(text)
        if key not in self.made:
            self.made[key] = KEPT if self.has(key) else json.dumps(tokens(text), ensure_ascii=False)
        self.term_keys.add(key)
        self.terms_used.append(key)
        return json.loads(self.text(key))

    def has(self, key: str) -> bool:
        """Whether the last build kept a text under `key`."""
        return self.known is not None and key in self.known

    def known_text(self, key: str) -> str | None:
        """The text the last build kept under `key`; None if none."""
        data = self.known.get(key) if self.known is not None else None
        return None if data is None else data.decode("utf-8")

    def text(self, key: str) -> str:
        """This build's text under `key`: made now, or carried over from the last build."""
        value = self.made[key]
        return self.known_text(key) if value is KEPT else value

    def terms_key(self, text: str) -> str:
        return hashlib.sha256(f"terms\0{self.base_key}\0{text}".encode()).hexdigest()

    def keep_terms(self, keys) -> None:
        """Carry these kept terms over to this build's cache: a build that makes no document again still keeps
        them for the next one, which may."""
        for key in keys:
            if key not in self.made and self.has(key):
                self.made[key] = KEPT
                self.term_keys.add(key)

    def tr(self, value: Text | TextList | None) -> str:
        if value is None:
            return ""
        text = value.get(self.lang)
        return " ".join(text) if isinstance(text, list) else text

    def docs(self) -> Iterator[Pending]:
        """Each page's document, by its key, read or made when asked for (10,000 papers' documents are hundreds of
        MB at once)."""
        project, t = self.project, self.t
        papers = by_date(project.digested.values())  # queued records and drafts have no page of their own
        yield from (self.paper(p) for p in papers)
        yield from (self.collection(cid, c) for cid, c in sorted(project.collections.items()))
        used = {tag for p in papers for tag in p.tags}
        yield from (self.named(f"tags/{tid}/", self.tr(tag), "tag", t["tags"])
                    for tid, tag in sorted(project.tags.items()) if tid in used)
        yield self.glossary()
        for location, title, text in (("papers/", t["papers"], ""), ("collections/", t["collections"], ""),
                                      ("tags/", t["tags"], ""), ("", t["site_name"], t["home_description"])):
            yield self.named(location, title, "section", text)
        # The queue page lists the queued papers' titles.
        yield self.named("queue/", t["reading_queue"], "section", t["queue_description"],
                         [(self.tr(paper.title), BODY) for paper in by_date(project.queue.values())])
        for page in sorted((project.root / "pages" / self.lang).glob("*.md")):
            yield self.hand_written(page)
        if self.lang != "zh":
            self.keep_terms(self.terms_key(name) for names in Synonyms.pairs(project) for name in names
                            if HAN.search(name))

    def doc(self, location: str, title: str, text: str, kind: str, tags: list[str], adds: list[tuple],
            synonyms: bool = False) -> Pending:
        """The document of a page that shows `title`, `text` and `tags`, indexing each (text, weight[, whether
        its terms find glossary synonyms]) of `adds` in turn. Kept by a hash of exactly these (`known`,
        `made`): a page's document in one language stays when only the other language's text of its record
        changed, and a build that indexes no new text does not cut any (nor load jieba's dictionary)."""
        recipe = json.dumps([location, title, text, kind, tags, adds, synonyms], ensure_ascii=False)
        key = hashlib.sha256((self.base_key + recipe).encode()).hexdigest()

        def get() -> Doc:
            known = self.kept(key)
            return known if known is not None else self.make(key, location, title, text, kind, tags, adds, synonyms)

        return Pending(key, get)

    def make(self, key: str, location: str, title: str, text: str, kind: str, tags: list[str], adds: list[tuple],
             synonyms: bool) -> Doc:
        doc, words = Doc(location, title, _plain(text), kind, tags), []
        self.terms_used = []
        for add in adds:
            found = doc.add(_plain(add[0]), add[1], self.terms)
            if add[2:] == (True,):
                words += found
        if synonyms:
            self.add_synonyms(doc, words)
        frequency = None
        for word, weight in list(doc.weights.items()):
            # An everyday Chinese word met once in the body (使用, 方法, 数据) finds nothing useful. (Only
            # Chinese words are that frequent in jieba's dictionary: Latin words need no look-up.)
            if weight == BODY and not word.isascii() and HAN.search(word):
                frequency = frequency or dictionary().FREQ
                if frequency.get(word, 0) > COMMON:
                    del doc.weights[word]
        # Not sorted: the weights' order is the text's, the same for the same recipe, and the index sorts terms.
        self.made[key] = json.dumps({**vars(doc), "weights": dict(doc.weights), "terms": self.terms_used},
                                    ensure_ascii=False)
        return doc

    def kept(self, key: str) -> Doc | None:
        """The document kept under `key` by the last build, carried over to this build's cache; None if none."""
        known = self.known_text(key)
        if known is None:
            return None
        self.made[key] = KEPT
        doc, terms = _read_doc(known)
        self.keep_terms(terms)
        return doc

    def carry(self, key: str) -> None:
        """The document kept under `key`, carried over to this build's cache unread (`patch_index`)."""
        self.made[key] = KEPT

    def peek(self, key: str) -> Doc | None:
        """The document the last build kept under `key`, read but not carried over; None if none."""
        known = self.known_text(key)
        return None if known is None else _read_doc(known)[0]

    def paper(self, paper: Paper) -> Pending:
        # The record's hash (load.record_digests) names the key of the document it made last time: a build after
        # one edit makes no other paper's recipe (its texts as JSON) to find its document.
        by_record = hashlib.sha256(f"paper\0{self.base_key}\0{self.project.digests(paper)[0]}".encode()).hexdigest()
        recipe_key = self.known_text(by_record)
        if recipe_key is not None and self.has(recipe_key):
            self.made[by_record] = KEPT

            def get() -> Doc:
                known = self.kept(recipe_key)
                return known if known is not None else self.paper_doc(paper).get()

            return Pending(recipe_key, get)
        pending = self.paper_doc(paper)
        self.made[by_record] = pending.key
        return pending

    def paper_doc(self, paper: Paper) -> Pending:
        tags = [self.tr(self.project.tags[t]) for t in paper.tags if t in self.project.tags]
        title, tldr = self.tr(paper.title), Markdown(self.tr(paper.tldr))
        adds = [(title, TITLE, True)]
        if paper.title.has(self.other):  # the page shows the other language's title under its own
            adds.append((paper.title.get(self.other), TITLE // 2, True))
        adds += [(" ".join(tags), TAGS, True), (tldr, TLDR, True),
                 (" ".join(paper.authors) + f" {paper.venue} {paper.arxiv or ''}", AUTHORS)]
        for result in paper.results:
            adds += [(f"{result.benchmark} {result.metric}", RESULTS, True),
                     (f"{self.tr(result.setting)} {self.tr(result.note)}", BODY, True)]
        for value in (paper.summary, paper.contributions, paper.method, paper.limitations):
            adds.append((Markdown(self.tr(value)), BODY, True))
        if paper.impl is not None:
            adds.append((Markdown(self.tr(paper.impl.shows)), BODY, True))
        return self.doc(f"papers/{paper.id}/", title, tldr, "paper", tags, adds, synonyms=True)

    def collection(self, coll_id: str, coll) -> Pending:
        title, intro = self.tr(coll.title), plain(self.tr(coll.intro))
        return self.doc(f"collections/{coll_id}/", title, intro[:200], "collection", [],
                        [(title, TITLE, True), (intro, BODY, True)], synonyms=True)

    def named(self, location: str, title: str, kind: str, text: str, adds: list[tuple] = ()) -> Pending:
        return self.doc(location, title, text, kind, [], [(title, TITLE), *adds])

    def glossary(self) -> Pending:
        return self.named("glossary/", self.t["glossary"], "glossary", self.t["glossary_description"],
                          [(f"{term.en} {term.zh} {self.tr(term.note)}", BODY) for term in self.project.glossary.terms])

    def hand_written(self, page: Path) -> Pending:
        text = page.read_text(encoding="utf-8")
        meta = {}
        if text.startswith("---\n") and "\n---\n" in text[4:]:
            head, text = text[4:].split("\n---\n", 1)
            meta = yaml.safe_load(head) or {}
        title = meta.get("title") or next((line[2:] for line in text.splitlines() if line.startswith("# ")),
                                          page.stem)
        return self.doc(f"{page.stem}/", title, meta.get("description", ""), "page", [],
                        [(title, TITLE), (Markdown(text), BODY)])

    def add_synonyms(self, doc: Doc, words: list[str]) -> None:
        """The other forms of each glossary term the page uses, weighted as the form it uses (at least SYNONYM)."""
        for key, others in self.synonyms.found_in(words).items():
            weight = max(SYNONYM, min(doc.weights[w] for w in key))
            for word in others:
                doc.weights[word] = max(doc.weights[word], weight)


def build_index(project: Project, lang: str, templates: Path, cache: Path | None = None) -> tuple[dict, dict]:
    """(Material-format index of what results show, term postings) for one language. `cache`: a file keeping each
    page's document by a hash of what it is made from and of what indexing depends on (`IndexBuilder.doc`), so
    that a build after one edit cuts only the edited text again; beside it (`<cache>.index`) the index it made,
    which a build that changes a few documents patches (`patch_index`) instead of making it whole."""
    index, terms, save = _index(project, lang, templates, cache)
    save(_dumps(index), _dumps(terms))
    return index, terms


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _index(project: Project, lang: str, templates: Path, cache: Path | None
           ) -> tuple[dict, dict, Callable[[str, str], None]]:
    """`build_index`'s index and postings, and a function that keeps them, given as the JSON the site gets."""
    add_words(project)
    strings = interface_strings(templates)[lang]
    builder = IndexBuilder(project, lang, strings)
    last, index_file = None, None
    if cache is not None:
        index_file = cache.with_name(cache.name + ".index")
        last = _read_last_index(index_file, builder.base_key)
        builder.known = Pack(cache)
    docs = builder.docs()
    made = None
    if last is not None:
        pending = list(docs)  # keys only: a document is read or made when it is needed
        made = patch_index(builder, last, pending)
        docs = iter(pending)
    if made is None:
        keys = []
        made = whole_index(lang, (keys.append(p.key) or p.get() for p in docs))
    else:
        keys = [p.key for p in pending]

    def save(index_text: str, terms_text: str) -> None:
        if cache is None:
            return
        for key, text in builder.made.items():
            if text is not KEPT:
                builder.known.put(key, text.encode("utf-8"))
        builder.known.save(set(builder.made))
        head = {"base": builder.base_key, "keys": keys, "terms": sorted(builder.term_keys & builder.made.keys())}
        with replacing(index_file) as f:
            f.writelines(text.encode("utf-8") for text in (_dumps(head), "\n", index_text, "\n", terms_text, "\n"))

    return *made, save


def _shown(doc: Doc) -> dict:
    """What a search result shows of a document (Material's format)."""
    entry = {"location": doc.location, "title": doc.title, "text": doc.text}
    if doc.tags:
        entry["tags"] = doc.tags
    if BOOST[doc.kind] != 1.0:
        entry["boost"] = BOOST[doc.kind]
    return entry


def whole_index(lang: str, docs: Iterable[Doc]) -> tuple[dict, dict]:
    """The index and postings of these documents, in order."""
    shown = []
    postings: dict[str, list[str]] = defaultdict(list)
    last: dict[str, int] = {}
    last_doc = last.get
    for i, doc in enumerate(docs):  # one document at a time: only what results show is kept
        shown.append(_shown(doc))
        # A word occurs once per document, so the order within one does not change any word's postings.
        for word, weight in doc.weights.items():
            postings[word].append(varint((i - last_doc(word, -1)) << 5 | weight))
            last[word] = i
    return ({"config": MATERIAL_CONFIG[lang], "docs": shown},
            {"version": 2, "terms": {word: "".join(codes) for word, codes in sorted(postings.items())}})


@dataclass
class LastIndex:
    """The index the last build made (`build_index`): each document's key in order, the index, the postings, and
    the keys of the texts' terms its documents used."""

    keys: list[str]
    index: dict
    terms: dict
    term_keys: list[str]


def _read_last_index(path: Path, base_key: str) -> LastIndex | None:
    """The last index, if it was made with `base_key` (the same code, glossary, tags and tokenizers)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = json.loads(f.readline())
            if head.get("base") != base_key:
                return None
            return LastIndex(head["keys"], json.loads(f.readline()), json.loads(f.readline()), head["terms"])
    except (OSError, ValueError, KeyError, AttributeError):
        return None


PATCH_LIMIT = 64  # documents changed, at most, for the last index to be patched rather than made whole


def patch_index(builder: IndexBuilder, last: LastIndex, pending: list[Pending]) -> tuple[dict, dict] | None:
    """The last index with the documents whose keys changed read or made again, and only their terms' postings
    rewritten (`patch_postings`); the same as `whole_index` of every document. None when the documents are not the
    last ones in the same places, or too many changed: then the index is made whole. After one edit of 1,000
    papers, one document is made and a few hundred postings rewritten, where the whole index walks 300,000."""
    keys = [p.key for p in pending]
    if len(keys) != len(last.keys):
        return None
    changed = [j for j, (key, old) in enumerate(zip(keys, last.keys)) if key != old]
    if len(changed) > PATCH_LIMIT or len(last.index["docs"]) != len(keys):
        return None
    old = {j: builder.peek(last.keys[j]) for j in changed}
    if any(doc is None for doc in old.values()) or any(
            not builder.has(key) for j, key in enumerate(keys) if j not in old):
        return None
    for j, key in enumerate(keys):
        if j not in old:
            builder.carry(key)
    builder.keep_terms(last.term_keys)  # those of the documents carried over unread
    new = {j: pending[j].get() for j in changed}
    shown, postings = list(last.index["docs"]), dict(last.terms["terms"])
    words: set[str] = set()
    for j in changed:
        shown[j] = _shown(new[j])
        words |= old[j].weights.keys() | new[j].weights.keys()
    for word in words:
        posting = patch_postings(postings.get(word, ""), {j: new[j].weights.get(word) for j in changed})
        if posting:
            postings[word] = posting
        else:
            postings.pop(word, None)
    return ({**last.index, "docs": shown},
            {**last.terms, "terms": dict(sorted(postings.items())) if words - last.terms["terms"].keys()
             else postings})


_VARINT = re.compile(r"[W-Za-z_-]*[0-9A-V]")  # one posting of a term's postings (`varint`: the last group < 32)


class _Values(dict):
    """A posting's text -> its value (gap << 5 | weight), worked out once for each text met."""

    def __missing__(self, text: str) -> int:
        value = 0
        for n, ch in enumerate(text):
            value |= (DIGITS.index(ch) & 31) << 5 * n
        self[text] = value
        return value


class _Gaps(dict):
    def __missing__(self, text: str) -> int:
        self[text] = gap = _VALUES[text] >> 5
        return gap


_VALUES, _GAPS = _Values(), _Gaps()


def patch_postings(posting: str, weights: dict[int, int | None]) -> str:
    """A term's postings with the entries of the documents in `weights` set to their new weight (None: the
    document no longer has the term). The postings before the first of them and after the last stay as they are
    but for the gap of the first one after."""
    codes = _VARINT.findall(posting)
    docs = list(itertools.accumulate(map(_GAPS.__getitem__, codes), initial=-1))[1:]
    lo, hi = bisect.bisect_left(docs, min(weights)), bisect.bisect_right(docs, max(weights))
    middle = {doc: _VALUES[code] & 31 for doc, code in zip(docs[lo:hi], codes[lo:hi])}
    for doc, weight in weights.items():
        if weight is None:
            middle.pop(doc, None)
        else:
            middle[doc] = weight
    out, before = ["".join(codes[:lo])], docs[lo - 1] if lo else -1
    for doc in sorted(middle):
        out.append(varint((doc - before) << 5 | middle[doc]))
        before = doc
    if hi < len(codes):
        out += [varint((docs[hi] - before) << 5 | _VALUES[codes[hi]] & 31), "".join(codes[hi + 1:])]
    return "".join(out)


DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"


@functools.lru_cache(maxsize=None)  # 300,000 postings at 1,000 papers, a few thousand distinct values
def varint(value: int) -> str:
    """A posting as text: 5-bit groups, lowest first, one character each (DIGITS[32 + group] while more follow).
    Half the size of decimal numbers in JSON before gzip, about a tenth less after."""
    out = ""
    while value >> 5:
        out += DIGITS[32 + (value & 31)]
        value >>= 5
    return out + DIGITS[value]


def decode(text: str) -> list[tuple[int, int]]:
    """[(document, weight)] of a term's postings (the worker's `decode`, for tests and tools)."""
    out, doc, value, shift = [], -1, 0, 0
    for ch in text:
        code = DIGITS.index(ch)
        value, shift = value | (code & 31) << shift, shift + 5
        if code < 32:
            doc += value >> 5
            out.append((doc, value & 31))
            value = shift = 0
    return out


def write_index(project: Project, lang: str, templates: Path, site_dir: Path,
                cache: Path | None = None) -> dict[str, int]:
    """Write `search/search_index.json` and `search/terms.json` under one language's built site; returns sizes."""
    index, terms, save = _index(project, lang, templates, cache)
    texts = {"search_index.json": _dumps(index), "terms.json": _dumps(terms)}
    sizes = {}
    for name, text in texts.items():
        path = site_dir / "search" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        sizes[name] = path.stat().st_size
    save(texts["search_index.json"], texts["terms.json"])
    return sizes
