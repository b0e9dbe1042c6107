"""The search index (digest/search.py) and the worker that reads it (templates/assets/search-worker.js, run in
Node here; tests/browser/test_search.py checks what readers find in Chromium)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from digest import search
from digest.files import Pack
from digest.load import load_project
from digest.search import (BOOST, TITLE, add_words, build_index, cut_for_search, decode, load_dictionary, normalize,
                           stem, tokens, varint, write_index)
from tests.conftest import REPO, make_project


@pytest.fixture(scope="module")
def real():
    project, _ = load_project(REPO)
    add_words(project)
    return project


def postings(terms: dict, docs: list[dict]) -> dict[str, dict[str, int]]:
    """{term: {location: weight}} from the encoded postings."""
    return {term: {docs[doc]["location"]: weight for doc, weight in decode(text)}
            for term, text in terms["terms"].items()}


def test_postings_round_trip():
    values = [(1, 31), (3, 1), (1000, 7), (40000, 12)]
    text = "".join(varint(gap << 5 | weight) for gap, weight in values)
    assert decode(text) == [(0, 31), (3, 1), (1003, 7), (41003, 12)]


def test_chinese_words_inside_compounds_are_terms(real):
    add_words(real)  # the real project's terms, as build_index adds them (another test may have indexed another)
    assert {"注意", "注意力", "自注意力"} <= set(tokens("使用自注意力机制"))
    # Glossary terms stay whole (长上下文 is one term, not 长 + 上下文), full-width forms fold.
    assert "长上下文" in tokens("支持长上下文的模型")
    assert tokens("ＦＰＧＡ") == ["fpga"]


def test_cut_for_search_gives_jiebas_words_on_every_record(real):
    """The search-mode cut (jieba-rs) equals jieba's own (HMM off), word for word, on every text field of every record
    in both languages, with the project's words added to both, and on edge cases: mixed scripts, digits, CRLF,
    symbols."""
    import jieba

    add_words(real)
    search.dictionary()  # jieba's, with the same words
    texts = ["", "  \r\n\t", "GPT-4o在2024年发布，FP8量化+KV cache", "ＦＰＧＡ上的LLM推理：3.2×加速", "a_b.c%d#e&f",
             "自注意力机制和长上下文", "研究生命起源", "結合繁體字與简体字", "12345abc的模型"]
    for paper in list(real.digested.values()) + list(real.queue.values()):
        for value in paper.model_dump().values():
            if isinstance(value, dict):
                texts += [" ".join(v) if isinstance(v, list) else v for v in value.values() if isinstance(v, (str, list))
                          and all(isinstance(x, str) for x in (v if isinstance(v, list) else [v]))]
    assert sum(len(t) for t in texts) > 40_000
    for text in texts + [normalize(t) for t in texts]:
        assert search.segmenter().cut_for_search(text, False) == list(jieba.dt.cut_for_search(text, HMM=False)), \
            text[:60]
    # cut_for_search takes jieba's own cut for a process's first characters (PYTHON_CUT_CHARS), jieba-rs's after.
    assert [cut_for_search(text) for text in texts] == [list(jieba.dt.cut_for_search(t, HMM=False)) for t in texts]


def test_dictionary_loads_as_jieba_loads_it():
    import jieba

    ours, theirs = jieba.Tokenizer(), jieba.Tokenizer()
    load_dictionary(ours)
    theirs.initialize()
    assert ours.initialized and ours.total == theirs.total and ours.FREQ == theirs.FREQ
    assert len(ours.FREQ) > 400_000


def test_a_dictionary_read_in_parts_cuts_as_the_whole_one(real, tmp_path):
    """`load_dictionary(lazy=True)` reads jieba's words a first character at a time (`ShardedFreq`, from a file
    made from jieba's cache the first time): with the project's words added, every text of every record cuts into
    the same words as with the whole dictionary, each word has the same frequency, and only the parts the texts
    need were read."""
    import jieba

    whole, first, parts = jieba.Tokenizer(), jieba.Tokenizer(), jieba.Tokenizer()
    whole.tmp_dir = first.tmp_dir = parts.tmp_dir = str(tmp_path)
    load_dictionary(whole)  # jieba makes its cache in tmp_path
    load_dictionary(first, lazy=True)  # no parts' file yet: the cache is read whole and the parts' file written
    assert not isinstance(first.FREQ, search.ShardedFreq) and first.FREQ == whole.FREQ
    load_dictionary(parts, lazy=True)
    assert isinstance(parts.FREQ, search.ShardedFreq) and parts.total == whole.total
    for tokenizer in (whole, parts):
        for word in search.chinese_words(real):
            tokenizer.add_word(word)
    texts = [t for paper in real.digested.values() for value in (paper.summary, paper.method, paper.tldr) if value
             for t in (value.zh, value.en)]
    assert sum(map(len, texts)) > 10_000
    for text in texts:
        assert list(parts.cut_for_search(text, HMM=False)) == list(whole.cut_for_search(text, HMM=False))
        for word in whole.cut_for_search(text, HMM=False):
            assert parts.FREQ.get(word) == whole.FREQ.get(word), word
    assert parts.total == whole.total and 0 < len(parts.FREQ.read) < len(parts.FREQ.where) / 4
    # A damaged parts file: what cannot be read comes from jieba's cache, whole, and cuts the same.
    good, damaged = parts.FREQ, tmp_path / "damaged.parts"
    data = good.path.read_bytes()
    damaged.write_bytes(data[:good.start] + b"\0" * (len(data) - good.start))
    broken = jieba.Tokenizer()
    broken.FREQ = search.ShardedFreq(damaged, good.total, dict(good.where), good.start, good.cache)
    broken.total, broken.initialized = good.total, True
    for word in search.chinese_words(real):
        broken.add_word(word)
    assert [list(broken.cut_for_search(t, HMM=False)) for t in texts] == \
        [list(whole.cut_for_search(t, HMM=False)) for t in texts]
    assert parts.FREQ.pop("长上下文") == whole.FREQ.pop("长上下文") and "长上下文" not in parts.FREQ


def test_both_languages_terms_find_the_page_without_being_shown(real):
    index, terms = build_index(real, "en", REPO / "templates")
    found = postings(terms, index["docs"])
    assert "papers/flightllm/" in found["现场可编程门阵列"]  # FPGA's Chinese name (a glossary synonym)
    assert "papers/latte/" in found["注意力"]  # the Chinese side of "attention"
    shown = json.dumps(index["docs"], ensure_ascii=False)
    assert "现场可编程门阵列" not in shown  # index-only: no result shows words the page does not have
    index, terms = build_index(real, "zh", REPO / "templates")
    found = postings(terms, index["docs"])
    assert {"papers/activation-beacon/", "papers/bitnet-a4-8/"} <= set(found["键值缓存"])  # KV 缓存's synonym
    assert "papers/d-fine/" in found["detection"]  # 目标检测 <-> object detection (the tag's two labels)


def test_papers_weigh_title_and_tags_over_body_and_outrank_listings(real):
    index, terms = build_index(real, "en", REPO / "templates")
    found = postings(terms, index["docs"])
    assert found["latte"]["papers/latte/"] >= TITLE
    docs = {d["location"]: d for d in index["docs"]}
    assert "boost" not in docs["papers/latte/"]
    assert docs["tags/attention/"]["boost"] == BOOST["tag"] < 1 and docs["glossary/"]["boost"] < 1
    # What a paper's result shows: its title, TL;DR and tags, as the page has them.
    assert docs["papers/latte/"]["title"].startswith("Latte: Latent Diffusion Transformer")
    assert docs["papers/latte/"]["tags"][0] == "Diffusion models"
    assert "papers/" not in found.get("papers", {})  # listings are found by name only, not by their rows


def test_stemming_meets_spelling_variants():
    assert {stem(w) for w in ("quantised", "quantization", "quantizers", "quantize")} == {"quantize"}
    assert stem("models") == "model" and stem("studies") == "study" and stem("analysis") == "analysis"


# ---- the worker, in Node ------------------------------------------------------------------------------------
NODE = shutil.which("node")
HARNESS = """
const fs = require("fs"), vm = require("vm"), path = require("path")
const [site, mode, ...args] = process.argv.slice(1)
let handler, out = []
const ctx = { self: { location: { href: "file://" + path.resolve(site) + "/assets/search-worker.js" } }, URL,
  console, addEventListener: (t, f) => handler = f, postMessage: m => out.push(m),
  fetch: async url => ({ json: async () => JSON.parse(fs.readFileSync(new URL(url).pathname, "utf8")) }) }
vm.createContext(ctx)
vm.runInContext(fs.readFileSync(path.join(site, "assets/search-worker.js"), "utf8"), ctx)
;(async () => {
  if (mode === "stem") return console.log(JSON.stringify(args.map(w => vm.runInContext(`stem(${JSON.stringify(w)})`, ctx))))
  await handler({ data: { type: 0, data: JSON.parse(fs.readFileSync(path.join(site, "search/search_index.json"))) } })
  await handler({ data: { type: 2, data: args[0] } })
  console.log(JSON.stringify(out))
})()
"""


def run_worker(site, *args) -> object:
    result = subprocess.run([NODE, "-e", HARNESS, str(site), *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.fixture
def worker_site(tmp_path, project):
    fixture, _ = load_project(project)
    (tmp_path / "assets").mkdir()
    shutil.copy2(REPO / "templates" / "assets" / "search-worker.js", tmp_path / "assets")
    write_index(fixture, "en", REPO / "templates", tmp_path)
    return tmp_path


@pytest.mark.skipif(NODE is None, reason="node is missing (npm ci installs the browser tests' axe-core with it)")
def test_worker_stems_as_the_index_does(worker_site):
    words = ["quantised", "quantization", "quantizers", "models", "studies", "analysis", "process", "bus",
             "organisations", "attention"]
    assert run_worker(worker_site, "stem", *words) == [stem(w) for w in words]


@pytest.mark.skipif(NODE is None, reason="node is missing (npm ci installs the browser tests' axe-core with it)")
def test_worker_answers_material_and_escapes_record_text(worker_site):
    ready, result = run_worker(worker_site, "query", "script attention")
    assert ready == {"type": 1} and result["type"] == 3
    first = result["data"]["items"][0][0]
    assert first["location"] == "papers/beta-attention/"
    assert "<script>" not in first["title"] and "&lt;<mark>script</mark>&gt;" in first["title"]
    assert first["terms"] == {"script": True, "attention": True}
    assert first["text"].startswith("<p>") and "<mark>attention</mark>" in first["text"]


def test_cached_documents_give_the_same_index_and_follow_an_edit(real, tmp_path, monkeypatch):
    """Each page's document is kept by what it is made from: a second build takes every one from the cache; after
    an edit of a paper's English text, the English index follows it and neither index cuts any Chinese text."""
    cache = tmp_path / "search-docs.zh.jsonl"
    fresh = build_index(real, "zh", REPO / "templates")
    assert build_index(real, "zh", REPO / "templates", cache) == fresh  # fills the cache
    # A document per page, and an entry per paper naming its page's by the record's hash (`IndexBuilder.paper`).
    assert len(Pack(cache).index) == len(fresh[0]["docs"]) + len(real.digested)
    assert build_index(real, "zh", REPO / "templates", cache) == fresh  # every page from the cache
    for _ in range(2):  # the second takes every document from the cache, and keeps the kept terms too
        build_index(real, "en", REPO / "templates", tmp_path / "search-docs.en.jsonl")
    latte = real.papers["latte"]
    real.papers["latte"] = latte.model_copy(update={"summary": latte.summary.model_copy(
        update={"en": latte.summary.en + " Hummingbird."})})
    cut = search.cut_for_search
    cuts = []
    monkeypatch.setattr(search, "cut_for_search", lambda text: cuts.append(text) or cut(text))
    try:
        index, terms = build_index(real, "en", REPO / "templates", tmp_path / "search-docs.en.jsonl")
        assert "papers/latte/" in postings(terms, index["docs"])["hummingbird"]
        assert cuts == []  # its Chinese title's terms and the glossary's were kept: jieba is not needed
        assert build_index(real, "zh", REPO / "templates", cache) == fresh and cuts == []  # nothing new in Chinese
        real.papers["latte"] = latte.model_copy(update={"venue": "Zebrafinch Workshop"})  # in both languages
        index, terms = build_index(real, "zh", REPO / "templates", cache)
        assert "papers/latte/" in postings(terms, index["docs"])["zebrafinch"] and cuts
    finally:
        real.papers["latte"] = latte


def test_an_index_patched_after_edits_is_the_index_made_whole(real, tmp_path, monkeypatch):
    """After a few edits (a word added, a word dropped, a title changed in both languages, two papers at once) the
    last index is patched (`patch_index`: only the changed documents and their terms' postings) and equals the
    index made whole from nothing; adding a paper makes it whole again."""
    papers = dict(real.papers)
    latte, beacon = real.papers["latte"], real.papers["activation-beacon"]
    edits = [
        {"latte": latte.model_copy(update={"summary": latte.summary.model_copy(
            update={"en": latte.summary.en + " Hummingbird.", "zh": latte.summary.zh + "蜂鸟。"})})},
        {"latte": latte.model_copy(update={"title": latte.title.model_copy(update={"en": "Zebrafinch", "zh": "斑胸草雀"}),
                                           "tags": latte.tags[::-1]}),
         "activation-beacon": beacon.model_copy(update={"venue": "Quokka Workshop", "tldr": beacon.tldr.model_copy(
             update={"en": "Short.", "zh": "短。"})})},
        {},  # every edit undone
    ]
    whole = search.whole_index
    try:
        for lang in ("en", "zh"):
            cache = tmp_path / f"search-docs.{lang}.jsonl"
            build_index(real, lang, REPO / "templates", cache)
            for edit in edits:
                real.papers.update({**papers, **edit})
                monkeypatch.setattr(search, "whole_index", lambda *a: pytest.fail("the index was made whole"))
                patched = build_index(real, lang, REPO / "templates", cache)
                monkeypatch.setattr(search, "whole_index", whole)
                assert patched == build_index(real, lang, REPO / "templates"), (lang, sorted(edit))
            index, terms = build_index(real, lang, REPO / "templates", cache)
            found = postings(terms, index["docs"])
            assert "hummingbird" not in found and "papers/latte/" in found[search.stem("latte")]
        real.papers["zebrafinch"] = latte.model_copy(update={"id": "zebrafinch"})  # a paper added: made whole
        made = []
        monkeypatch.setattr(search, "whole_index", lambda *a: made.append(1) or whole(*a))
        assert build_index(real, "en", REPO / "templates", tmp_path / "search-docs.en.jsonl") == \
            build_index(real, "en", REPO / "templates") and len(made) == 2
    finally:
        real.papers.clear()
        real.papers.update(papers)


def test_the_documents_cache_grows_by_what_an_edit_made_and_a_damaged_one_gives_the_same_index(real, tmp_path):
    """After an edit the cache file keeps its bytes and gains the edited page's document and its record's entry;
    a file cut short, another one with the same bytes, or one with an entry longer than the file give the index
    made whole."""
    cache = tmp_path / "search-docs.en.jsonl"
    build_index(real, "en", REPO / "templates", cache)
    before, inode, entries = cache.read_bytes(), cache.stat().st_ino, set(Pack(cache).index)
    latte = real.papers["latte"]
    real.papers["latte"] = latte.model_copy(update={"summary": latte.summary.model_copy(
        update={"en": latte.summary.en + " Hummingbird."})})
    try:
        edited = build_index(real, "en", REPO / "templates", cache)
        after = cache.read_bytes()
        assert cache.stat().st_ino == inode and after.startswith(before) and \
            len(set(Pack(cache).index) - entries) == 2 and b"hummingbird" in after[len(before):].lower()

        def overlong() -> None:  # the first entry says it is longer than the file
            key, tag_length, _ = Pack.ENTRY.unpack_from(after)
            cache.write_bytes(Pack.ENTRY.pack(key, tag_length, 10**9) + after[Pack.ENTRY.size:])

        for damage in (lambda: cache.write_bytes(after[:len(after) // 2]),  # cut short
                       lambda: cache.unlink() or cache.write_bytes(after),  # the same bytes, another file
                       overlong):
            damage()
            assert build_index(real, "en", REPO / "templates", cache) == edited == \
                build_index(real, "en", REPO / "templates")
    finally:
        real.papers["latte"] = latte


def test_patched_postings_equal_postings_encoded_whole():
    docs = [(0, 3), (4, 1), (5, 12), (40, 2), (41, 31), (900, 1)]

    def encode(entries):
        out, before = "", -1
        for doc, weight in entries:
            out, before = out + search.varint((doc - before) << 5 | weight), doc
        return out

    text = encode(docs)
    for change in ({0: None}, {5: 7}, {6: 2}, {41: None, 900: None}, {3: 1, 1000: 4}, {0: None, 4: None, 5: None,
                                                                                      40: None, 41: None, 900: None}):
        want = dict(docs)
        for doc, weight in change.items():
            want.pop(doc, None) if weight is None else want.__setitem__(doc, weight)
        assert search.patch_postings(text, change) == encode(sorted(want.items())), change


def test_an_index_of_cached_documents_does_without_jiebas_dictionary(real, tmp_path):
    """Loading jieba's dictionary is a quarter of a second, jieba-rs a tenth: a build after an edit of English text,
    or with no new text, loads neither (a fresh process, as a build's worker is)."""
    for lang in ("en", "zh"):
        build_index(real, lang, REPO / "templates", tmp_path / f"search-docs.{lang}.jsonl")
    script = ("import sys, jieba; from pathlib import Path; from digest.load import load_project; "
              "from digest.search import add_words, build_index; project, _ = load_project(Path(sys.argv[1])); "
              "add_words(project); [build_index(project, lang, Path(sys.argv[1]) / 'templates', "
              "Path(sys.argv[2]) / f'search-docs.{lang}.jsonl') for lang in ('en', 'zh')]; "
              "print(jieba.dt.initialized, 'rjieba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script, str(REPO), str(tmp_path)], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "False False"  # neither jieba's dictionary nor jieba-rs


def test_a_project_indexed_earlier_in_the_process_leaves_no_words_behind(project, tmp_path):
    """jieba's dictionary is one per process: a glossary term of another project indexed meanwhile (视频潜变量, a
    compound of the fixture's text) must not change how the fixture's text is cut (a test run or `digest serve`
    indexes several projects in one process)."""
    (tmp_path / "other").mkdir()
    other = make_project(tmp_path / "other")
    glossary = other / "content" / "glossary.yaml"
    glossary.write_text(glossary.read_text(encoding="utf-8") + "  - {en: video latents, zh: 视频潜变量}\n",
                        encoding="utf-8")
    fixture, (other_project, _) = load_project(project)[0], load_project(other)
    first = build_index(fixture, "zh", REPO / "templates")
    assert "视频潜变量" in build_index(other_project, "zh", REPO / "templates")[1]["terms"]
    assert build_index(fixture, "zh", REPO / "templates") == first
