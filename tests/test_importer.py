"""`digest import`: BibTeX entries -> records; every bad entry reported with its line; import -> export -> import."""

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from digest import importer
from digest.bibtex import library_text
from digest.load import load_project
from digest.schema import Paper, json_schema
from tests.conftest import FIXTURES, REPO

TODAY = dt.date(2026, 11, 23)
ROUNDTRIP = FIXTURES / "roundtrip.bib"
REFERENCES = FIXTURES / "references.bib"


def digest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], cwd=cwd, capture_output=True, text=True)


def plan(root: Path, bib: Path, **kwargs) -> importer.ImportPlan:
    return importer.plan_import(root, bib, TODAY, **kwargs)


def by_key(p: importer.ImportPlan) -> dict[str, dict]:
    return {d.key: d.data for d in p.created}


# ---- pieces ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("latex, text", [
    (r"{Nystr{\"o}mformer}: A {N}ystr\"{o}m-based Method", "Nyströmformer: A Nyström-based Method"),
    (r"Ga{\"e}l Varoquaux and {\'E}douard", "Gaël Varoquaux and Édouard"),
    (r"{\L}ukasz, \c{C}a\u{g}lar G{\"u}l{\c{c}}ehre, Bj\"orn", "Łukasz, Çağlar Gülçehre, Björn"),
    (r"Fast~and \& cheap: $\mathcal{O}(n)$ attention", r"Fast and & cheap: $\mathcal{O}(n)$ attention"),
    ("see \\url{https://x.org/a_b}  and\n   more", "see https://x.org/a_b and more"),
])
def test_latex_decodes_to_unicode_and_keeps_math(latex, text):
    assert importer.decode(latex) == text


def test_authors_become_first_last_in_order():
    raw = r"Vaswani, Ashish and van der Walt, St{\'e}fan J. and King, Jr., Martin and {Google DeepMind} and Tri Dao"
    assert importer.authors_of(raw) == ["Ashish Vaswani", "Stéfan J. van der Walt", "Martin King Jr.",
                                        "Google DeepMind", "Tri Dao"]
    assert importer.authors_of("{Barnes and Noble} and Doe, Jane") == ["Barnes and Noble", "Jane Doe"]


@pytest.mark.parametrize("text, expected", [
    ("2303.01469", "2303.01469"), ("arXiv:1505.04597v1", "1505.04597"),
    ("https://arxiv.org/abs/2102.03902v3", "2102.03902"), ("http://arxiv.org/pdf/2312.00752.pdf", "2312.00752"),
    ("10.48550/arXiv.2302.13971", "2302.13971"), ("https://doi.org/10.48550/arXiv.2302.13971", "2302.13971"),
    ("arXiv preprint arXiv:1412.6980", "1412.6980"), ("1713.00001", None), ("10.1145/3600006.3613165", None),
    ("Ar{X}iv:2010.02178", "2010.02178"), ("ArXiv preprint arXiv:2201.03545v2", "2201.03545"),
    ("abs/1706.03762", "1706.03762"), ("CoRR abs/1706.03762", "1706.03762"), ("cs/0112017", "cs/0112017"),
    ("arXiv:cs/0112017v1", "cs/0112017"), ("http://arxiv.org/abs/math.GT/0309136", "math.GT/0309136"),
    ("10.48550/arXiv.2201.03545v2", "2201.03545"), ("arXiv e-prints, art. arXiv:1312.6114", "1312.6114"),
    ("https://www.sciencedirect.com/science/article/abs/pii/S0893608005001206", None),
    ("Springer, 2009. 10.1007/978-0-387-84858-7", None), ("volume 12", None),
])
def test_arxiv_ids_are_found_in_every_usual_form(text, expected):
    assert importer.arxiv_id(text) == expected


@pytest.mark.parametrize("fields, venue", [
    ({"booktitle": "Proceedings of the 40th International Conference on Machine Learning"}, "ICML 2023"),
    ({"journal": "Advances in neural information processing systems"}, "NeurIPS 2023"),
    ({"booktitle": "2009 IEEE Conference on Computer Vision and Pattern Recognition"}, "CVPR 2023"),
    ({"booktitle": "Proceedings of the 2019 Conference of the North American Chapter of the Association for "
                   "Computational Linguistics"}, "NAACL 2023"),
    ({"booktitle": "NeurIPS 2021 Workshop on Deep Generative Models"}, "NeurIPS 2021 Workshop on Deep Generative "
                                                                        "Models"),
    ({"journal": "Journal of Machine Learning Research"}, "JMLR"),
    ({"journal": "arXiv preprint arXiv:1412.6980"}, "arXiv"),
    ({"journal": "Neural Computation"}, "Neural Computation"),
    ({"howpublished": "lilianweng.github.io"}, "lilianweng.github.io"),
    ({}, None),  # absent stays absent
])
def test_venue_is_the_short_display_form(fields, venue):
    assert importer.venue_of(fields, 2023, None) == venue


@pytest.mark.parametrize("title, expected", [
    ("Consistency Models", "consistency-models"), ("D-FINE: Redefine Regression Task in DETRs", "d-fine"),
    ("BitNet a4.8: 4-bit Activations for 1-bit LLMs", "bitnet-a4-8"),
    ("Efficient Estimation of Word Representations in Vector Space", "efficient-estimation-of-word-representations"),
    ("Nyströmformer: A Nyström-based Algorithm", "nystromformer"), ("一致性模型", "song2023consistency"),
])
def test_record_ids_come_from_the_title(title, expected):
    assert importer.record_id(title, "song2023consistency") == expected


# ---- the round-trip fixture --------------------------------------------------------------------------------------


def test_roundtrip_fixture_gives_the_expected_records(project):
    p = plan(project, ROUNDTRIP)
    assert not p.errors and not p.skipped and len(p.created) == 13
    records = by_key(p)
    vaswani = records["vaswani2017attention"]
    assert vaswani["id"] == "attention-is-all-you-need" and vaswani["venue"] == "NeurIPS 2017"
    assert vaswani["authors"][6] == "Łukasz Kaiser" and vaswani["arxiv"] == "1706.03762"
    assert vaswani["published"] == "2017-06" and vaswani["tags"] == ["attention"]  # the arXiv id's month
    assert vaswani["status"] == "queued" and vaswani["title"] == {"en": "Attention is All you Need"}
    assert vaswani["citation"] == {"type": "inproceedings", "key": "vaswani2017attention", "volume": "30",
                                   "booktitle": "Advances in Neural Information Processing Systems",
                                   "pages": "5998--6008"}
    nystrom = records["xiong2021nystromformer"]
    assert nystrom["title"]["en"] == "Nyströmformer: A Nyström-based Algorithm for Approximating Self-Attention"
    assert (nystrom["arxiv"], nystrom["venue"], nystrom["doi"]) == ("2102.03902", "AAAI 2021",
                                                                     "10.1609/aaai.v35i16.17664")
    lstm = records["hochreiter1997lstm"]
    assert lstm["published"] == "1997-11" and "arxiv" not in lstm and lstm["venue"] == "Neural Computation"
    assert lstm["authors"] == ["Sepp Hochreiter", "Jürgen Schmidhuber"]
    assert records["caron2021dino"]["arxiv"] == "2104.14294" and records["caron2021dino"]["venue"] == "arXiv"
    score = records["song2021scorebased"]  # arXiv v1 in 2020, published at ICLR 2021
    assert score["published"] == "2020-11" and score["citation"]["year"] == 2021
    assert score["links"] == {"pdf": "https://arxiv.org/pdf/2011.13456",
                              "openreview": "https://openreview.net/forum?id=PxTIG12RRHS"}
    assert records["dao2022flashattention"]["links"]["code"] == "https://github.com/Dao-AILab/flash-attention"
    blog = records["weng2021diffusion"]
    assert blog["kind"] == "article" and blog["venue"] == "lilianweng.github.io"
    assert blog["links"] == {"article": "https://lilianweng.github.io/posts/2021-07-11-diffusion-models/"}
    llama = records["touvron2023llama"]  # the arXiv DOI gives the id and is not kept as a DOI
    assert llama["arxiv"] == "2302.13971" and "doi" not in llama
    assert records["ronneberger2015unet"]["arxiv"] == "1505.04597"
    assert records["ronneberger2015unet"]["venue"] == "MICCAI 2015"
    assert records["gu2023mamba"]["links"] == {"pdf": "https://arxiv.org/pdf/2312.00752"}
    assert records["harris2020array"]["authors"][-1] == "others"


def test_every_imported_record_passes_the_schema_and_names_it_in_its_first_line(project):
    project_tags = sorted(load_project(project)[0].tags)
    schema = json.loads(json_schema("paper", project_tags))
    for draft in plan(project, REFERENCES).created:
        text = draft.yaml_text()
        assert text.splitlines()[0] == importer.MODELINE
        data = json.loads(json.dumps(yaml.safe_load(text), default=str))
        jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())
        assert data["status"] == "queued" and "TODO" not in json.dumps(data, ensure_ascii=False)
        assert not {"tldr", "summary", "contributions", "method"} & set(data)  # `digest start` adds them


@pytest.mark.parametrize("bib", [ROUNDTRIP, REFERENCES], ids=["roundtrip", "references"])
def test_import_export_import_gives_the_same_records(project, tmp_path, bib):
    first = plan(project, bib)
    exported = tmp_path / "exported.bib"
    exported.write_text(library_text([Paper.model_validate(d.data) for d in first.created]), encoding="utf-8")
    second = plan(project, exported)
    assert not second.errors and len(second.created) == len(first.created)
    assert [d.data for d in second.created] == [d.data for d in first.created]
    assert [d.yaml_text() for d in second.created] == [d.yaml_text() for d in first.created]  # byte for byte


# ---- the 50+ entry file: created, skipped, and each bad entry reported ----------------------------------------------


def entry_lines(bib: Path) -> dict[str, list[int]]:
    """Citation key -> the lines where an entry with that key starts (BibTeX's own blocks excluded)."""
    out: dict[str, list[int]] = {}
    for number, line in enumerate(bib.read_text(encoding="utf-8").splitlines(), 1):
        if m := re.match(r"@(\w+)\{([^,\s]+),", line):
            if m.group(1).lower() not in ("string", "comment", "preamble"):
                out.setdefault(m.group(2), []).append(number)
    return out


BAD = {  # key -> what the report must say about it
    "notitle2020": "no title", "noauthor2021": "no authors", "noyear": "no year",
    "forthcoming2025": "year `forthcoming` is not a four-digit year",
    "missingcomma2019": "a comma is missing after the value of `title`",
    "unbalanced2022": "BibTeX syntax error", "vaswani2017attention": "duplicate key `vaswani2017attention`",
    "twoyears2020": "a field appears twice",
}


def test_fifty_real_world_entries_are_created_skipped_or_reported_one_by_one(project):
    lines = entry_lines(REFERENCES)
    assert sum(len(v) for v in lines.values()) >= 60
    p = plan(project, REFERENCES)
    assert (len(p.created), len(p.skipped), len(p.errors)) == (62, 1, 8)
    assert p.entries == len(p.created) + len(p.skipped) + len(p.errors)  # nothing dropped silently
    assert [(d.key, why) for d, why in p.skipped] == [("lovelace2024alpha", "content/papers/alpha-video.yaml exists")]
    for problem in p.errors:
        assert problem.field in BAD, problem.format()
        assert BAD[problem.field] in problem.message, problem.format()
        assert problem.line == lines[problem.field][-1], problem.format()  # the bad one, not the first of a pair
        assert problem.path.endswith("references.bib") and problem.hint
    assert {p.field for p in p.errors} == set(BAD)
    warned = {(w.field, w.message.split(":")[0]) for w in p.problems if w.severity == "warning"}
    assert ("baddoi2018", "DOI `doi-unknown` is not of the form 10.NNNN/suffix") in warned
    assert ("DBLP:journals/corr/BaKH16", "citation key `DBLP") in {(k, m.split("/")[0]) for k, m in warned}
    assert ("goodfellow2016deep", "@book becomes @misc (a record's citation is article, inproceedings or misc)") \
        in warned


def test_importing_twice_skips_every_record_of_the_first_import(project):
    first = plan(project, REFERENCES)
    importer.write_plan(project, first)
    again = plan(project, REFERENCES)
    assert not again.created and len(again.skipped) == len(first.skipped) + len(first.created)


def test_an_entry_already_in_the_collection_under_another_id_is_skipped(project, tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@misc{other2024, title={Alpha Again}, author={Ada Lovelace}, year=2024, eprint={2401.00001}}\n"
                   "@misc{hopper2023beta, title={Beta Once More}, author={Grace Hopper}, year=2023}\n",
                   encoding="utf-8")
    p = plan(project, bib)
    assert [why for _, why in p.skipped] == ["same arXiv id as content/papers/alpha-video.yaml",
                                             "same citation key as content/papers/beta-attention.yaml"]


def test_two_entries_with_the_same_short_title_get_distinct_ids(project, tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@misc{a2023, title={Latte: One}, author={A B}, year=2023}\n"
                   "@misc{b2024, title={Latte: Two}, author={C D}, year=2024}\n", encoding="utf-8")
    p = plan(project, bib)
    assert [d.paper_id for d in p.created] == ["latte", "latte-2024"]
    assert any("this one becomes `latte-2024`" in w.message for w in p.problems)


def test_tags_from_the_title_or_the_command_line(project, tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@misc{a, title={Diffusion Models for Video Generation}, author={A B}, year=2022}\n"
                   "@misc{b, title={Sinkhorn Distances}, author={C D}, year=2013}\n", encoding="utf-8")
    records = by_key(plan(project, bib))
    assert records["a"]["tags"] == ["diffusion", "video-generation"]
    assert "tags" not in records["b"]  # nothing in the entry names a tag: none (a person picks them later)
    assert by_key(plan(project, bib, default_tags=("attention",)))["b"]["tags"] == ["attention"]


def test_the_same_input_gives_the_same_bytes(project):
    assert [d.yaml_text() for d in plan(project, REFERENCES).created] == \
        [d.yaml_text() for d in plan(project, REFERENCES).created]


# ---- the command --------------------------------------------------------------------------------------------------


def test_cli_dry_run_shows_the_records_and_writes_nothing(project):
    before = sorted((project / "content" / "papers").iterdir())
    result = digest("import", str(ROUNDTRIP), "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "--- would write content/papers/attention-is-all-you-need.yaml" in result.stdout
    assert "  en: Attention is All you Need" in result.stdout
    assert "13 entries: would create 13 queued records (9 with an arXiv id), skipped 0" in result.stdout
    assert sorted((project / "content" / "papers").iterdir()) == before


def test_cli_import_writes_records_that_check_passes_and_reports_bad_entries(project):
    result = digest("import", str(REFERENCES), cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert "71 entries: created 62 queued records (43 with an arXiv id), skipped 1 already in the collection, 8 not " \
        "imported" in result.stdout
    assert "skipped " in result.stdout and "lovelace2024alpha: content/papers/alpha-video.yaml exists" in result.stdout
    assert re.search(r"references\.bib:\d+:1: error: noyear: no year: a record needs the date", result.stderr)
    assert len(list((project / "content" / "papers").glob("*.yaml"))) == 64
    check = digest("check", cwd=project)  # queued records hold facts only: nothing to warn about
    assert check.returncode == 0, check.stderr
    assert "2 papers, 1 collections; 62 queued, 0 drafts" in check.stdout and "TODO" not in check.stderr
    assert {line for line in check.stderr.splitlines() if line.startswith("content/")} == \
        {"content/papers/beta-attention.yaml"}  # the fixture's own missing translations, nothing imported


@pytest.mark.parametrize("args, message", [
    (["import", "missing.bib"], "does not exist"),
    (["import", "refs.bib", "--tag", "no-such-tag"], "--tag no-such-tag: not a tag of content/tags.yaml"),
    (["import", "empty.bib"], "no BibTeX entries found"),
    (["import", "latin1.bib"], "latin1.bib:1:20: error: not UTF-8: byte 0xE9 here is invalid continuation byte"),
])
def test_cli_import_errors_are_clean(project, args, message):
    (project / "refs.bib").write_text("@misc{a, title={T}, author={A B}, year=2020}\n", encoding="utf-8")
    (project / "empty.bib").write_text("% nothing here\n", encoding="utf-8")
    (project / "latin1.bib").write_bytes("@misc{a, title={Caf\xe9}, author={A}, year=2020}\n".encode("latin-1"))
    result = digest(*args, cwd=project)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr


# ---- a real textbook's bibliography: Dive into Deep Learning's d2l.bib (488 entries, see fixtures/README.md) ----

D2L = FIXTURES / "d2l.bib"
ARXIV_CONTEXT = re.compile(r"arxiv|corr|abs/", re.I)
NEW_STYLE = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?![\d])")


@pytest.fixture(scope="module")
def d2l(tmp_path_factory):
    """The fixture project with d2l.bib imported in-process and the site built once (shared by this section)."""
    from digest.build import build_site
    from tests.conftest import make_project

    root = make_project(tmp_path_factory.mktemp("d2l"))
    p = importer.plan_import(root, D2L, TODAY)
    importer.write_plan(root, p)
    build_site(root, echo=lambda line: None)
    return root, p


def raw_entries() -> dict[int, dict[str, str]]:
    """The fields of each entry as written (braces removed), by the line the entry starts on."""
    entries, problems = importer.parse_bib(D2L.read_text(encoding="utf-8"), "d2l.bib")
    assert not problems
    return {e.start_line + 1: {f.key.lower(): str(f.value).replace("{", "").replace("}", "") for f in e.fields}
            for e in entries}


def test_d2l_every_entry_is_queued_skipped_or_reported(d2l):
    _, p = d2l
    assert (p.entries, len(p.created), len(p.skipped), len(p.errors)) == (488, 486, 1, 1)
    assert [(d.key, why) for d, why in p.skipped] == [("ba2016layer", "same arXiv id as content/papers/"
                                                       "layer-normalization.yaml")]  # listed twice in d2l.bib
    assert [(e.field, e.message.split(":")[0]) for e in p.errors] == [
        ("hutter-book19a", "no authors (the entry names editors only)")]
    assert {d.data["status"] for d in p.created} == {"queued"}


def test_d2l_every_entry_that_carries_an_arxiv_id_gets_it(d2l):
    _, p = d2l
    made = {d.line: d.data for d in p.created + [d for d, _ in p.skipped]}
    carried = {}
    for line, fields in raw_entries().items():
        for value in fields.values():
            if ARXIV_CONTEXT.search(value) and (m := NEW_STYLE.search(value)):
                carried[line] = m.group(1)
    assert len(carried) == 128 and sum("arxiv" in d for d in made.values()) == 128
    assert {line: made[line].get("arxiv") for line in carried} == carried
    convnext = next(d.data for d in p.created if d.key == "liu2022convnet")  # journal = {ArXiv:2201.03545}, as the issue found it
    assert (convnext["arxiv"], convnext["venue"], convnext["published"]) == ("2201.03545", "arXiv", "2022-01")
    assert convnext["links"] == {"pdf": "https://arxiv.org/pdf/2201.03545"}


def test_d2l_dates_are_no_more_precise_than_the_entries(d2l):
    _, p = d2l
    raw = raw_entries()
    by_precision = {"year": 0, "month": 0, "day": 0}
    for d in p.created:
        published, fields = d.data["published"], raw[d.line]
        if isinstance(published, int):  # the entry gave a year and no month, and no arXiv id
            assert "arxiv" not in d.data and str(published) == fields["year"].strip()
            by_precision["year"] += 1
        else:
            assert re.fullmatch(r"\d{4}-\d{2}", published)
            assert "arxiv" in d.data or "month" in fields  # the month came from somewhere
            by_precision["month"] += 1
    assert by_precision == {"year": 359, "month": 127, "day": 0}


def test_d2l_tags_only_where_the_entry_names_them_and_absent_fields_stay_absent(d2l):
    root, p = d2l
    tags = load_project(root)[0].tags
    tagged = [d for d in p.created if "tags" in d.data]
    assert len(tagged) == 11  # was 486, with the fallback tag on 432 of them
    for d in tagged:
        for tag in d.data["tags"]:
            assert tag.replace("-", " ") in d.data["title"]["en"].lower() or tags[tag].en.lower() in \
                d.data["title"]["en"].lower()
    assert sum("venue" not in d.data for d in p.created) == 1  # Vapnik and Chervonenkis 1974: no journal
    texts = "\n".join(d.yaml_text() for d in p.created)
    assert "TODO" not in texts and "zh:" not in texts  # no placeholder title, no text nobody wrote


def test_d2l_report_lists_per_entry_what_was_not_mapped(d2l):
    _, p = d2l
    unmapped = {d.key: d.unmapped for d in p.created if d.unmapped}
    assert len(unmapped) == 15
    assert unmapped["BellmanDPBook"] == ["isbn", "series"] and unmapped["Lipton.Steinhardt.2018"] == ["issue"]
    assert unmapped["Scholkopf.Herbrich.Smola.2001"] == ["editor"]


def test_d2l_site_has_no_placeholder_and_lists_the_queue_in_both_languages(d2l):
    root, p = d2l
    site = root / "site"
    placeholders = [importer.TITLE_ZH_TODO, importer.VENUE_TODO, "January 1", "01-01</time>",
                    *[text for texts in importer.TODO_TEXTS.values() for v in texts.values()
                      for text in (v if isinstance(v, list) else [v])]]
    hand_written = {f"{prefix}{page.stem}/index.html" for prefix in ("", "zh/")
                    for page in (root / "pages" / "en").glob("*.md")}  # they document the TODO markers
    scanned = 0
    for page in sorted(site.rglob("*.html")):
        rel = page.relative_to(site).as_posix()
        if rel in hand_written:
            continue
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\bTODO\b", text), rel
        assert not [s for s in placeholders if s in text], rel
        scanned += 1
    assert scanned >= 20 and hand_written == {"add-a-paper/index.html", "zh/add-a-paper/index.html"}
    for prefix, heading in (("", "Reading queue"), ("zh/", "待读")):
        queue = (site / prefix / "queue" / "index.html").read_text(encoding="utf-8")
        later = sorted((site / prefix / "queue" / "page").glob("*/index.html"))
        assert heading in queue and queue.count("<tr id=") == 100 and len(later) == 4  # pages of 100 rows
        queue += "".join(page.read_text(encoding="utf-8") for page in later)
        assert queue.count("<tr id=") == 486
        rows = json.loads((site / prefix / "queue" / "rows.json").read_text(encoding="utf-8"))["rows"]
        assert len({r["id"] for r in rows}) == 486  # what listing.js shows on the first page
        assert '<time datetime="2017">2017</time>' in queue and '<time datetime="2022-01">2022-01</time>' in queue
        listing = (site / prefix / "papers" / "index.html").read_text(encoding="utf-8")
        assert listing.count("<tr data-title=") == 2  # the two digested fixture papers
        assert "ConvNet for the 2020s" not in (site / prefix / "tags" / "attention" / "index.html").read_text(
            encoding="utf-8") if (site / prefix / "tags" / "attention" / "index.html").exists() else True
        search = (site / prefix / "search" / "search_index.json").read_text(encoding="utf-8")
        assert "ConvNet for the 2020s" not in search and "Attention is all you need" not in search
        assert "486" in (site / prefix / "index.html").read_text(encoding="utf-8")  # the home page says so
    assert sorted(p.name for p in (site / "papers").iterdir() if p.is_dir()) == ["alpha-video", "beta-attention"]
    data = json.loads((site / "papers.json").read_text(encoding="utf-8"))
    assert len(data["papers"]) == 2 and len(data["queue"]) == 486
    assert (site / "feed.xml").read_text(encoding="utf-8").count("<entry>") == 2


def test_d2l_queue_leaves_the_twelve_digested_pages_unchanged():
    """The real records' pages render to the same text with 486 queued records beside them."""
    from digest.render import Renderer
    from digest.schema import Paper as PaperModel

    project, _ = load_project(REPO)
    before = {lang: Renderer(project, lang, REPO / "templates").pages() for lang in ("en", "zh")}
    entries, _ = importer.parse_bib(D2L.read_text(encoding="utf-8"), "d2l.bib")
    for entry in entries:
        draft, _ = importer.draft_from_entry(entry, "d2l.bib", project.tags, TODAY)
        if draft is not None and draft.paper_id not in project.papers:
            project.papers[draft.paper_id] = PaperModel.model_validate(draft.data)
    assert len(project.queue) == 473  # d2l's distinct ids that are not ids of the twelve
    for lang in ("en", "zh"):
        after = Renderer(project, lang, REPO / "templates").pages()
        changed = sorted(k for k in before[lang] if before[lang][k] != after[k])
        assert changed == ["index.md", "queue/index.md", "queue/rows.json"], (lang, changed)
        assert sorted(set(after) - set(before[lang])) == [f"queue/page/{n}.md" for n in range(2, 6)]  # 100 a page
