"""BibTeX export: each page's block and papers.bib come from `digest/bibtex.py`; what it writes, import reads back."""

import datetime as dt
import subprocess
import sys

import bibtexparser
import pytest

from digest import importer
from digest.bibtex import entry_text, entry_url, library_of, library_text
from digest.load import load_project
from digest.schema import Paper, PubDate
from tests.conftest import REPO

REAL = load_project(REPO)[0]
REAL_PAPERS = sorted(REAL.papers.values(), key=lambda p: p.id)


def paper(**changes) -> Paper:
    base = {"id": "x", "title": {"en": "A & B: 100% of #1"}, "authors": ["Ada Lovelace", "Smith, Jr."],
            "published": dt.date(2023, 3, 2), "venue": "arXiv", "tags": ["attention"], "tldr": {"en": "t"},
            "summary": {"en": "s"}, "contributions": {"en": ["c"]}, "citation": {"type": "misc", "key": "k"}}
    return Paper.model_validate({**base, **changes})


def fields(text: str) -> dict[str, str]:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks and len(library.entries) == 1
    return {f.key: f.value for f in library.entries[0].fields}


def test_entry_escapes_latex_specials_keeps_title_case_and_braces_a_name_with_a_comma():
    f = fields(entry_text(paper()))
    assert f["title"] == r"{A \& B: 100\% of \#1}"
    assert f["author"] == "Ada Lovelace and {Smith, Jr.}"
    assert (f["year"], f["month"]) == ("2023", "mar")


def test_month_only_when_the_year_is_the_published_one_and_not_for_a_year_only_date():
    assert "month" not in fields(entry_text(paper(citation={"type": "misc", "key": "k", "year": 2024})))
    assert "month" not in fields(entry_text(paper(published=2020)))  # the source gave only the year
    assert fields(entry_text(paper(published="2020-01")))["month"] == "jan"
    assert fields(entry_text(paper(published=dt.date(2020, 1, 1))))["month"] == "jan"  # 1 January is a day too
    assert "month = mar," in entry_text(paper())  # a macro, unquoted: styles print "March"


def test_url_carries_the_link_that_eprint_and_doi_do_not():
    arxiv_only = paper(arxiv="2303.01469", links={"pdf": "https://arxiv.org/pdf/2303.01469"})
    assert entry_url(arxiv_only) == "https://arxiv.org/abs/2303.01469"
    with_code = paper(arxiv="2303.01469", links={"pdf": "https://arxiv.org/pdf/2303.01469",
                                                 "code": "https://github.com/o/r"})
    assert entry_url(with_code) == "https://github.com/o/r"
    both = paper(links={"code": "https://github.com/o/r", "openreview": "https://openreview.net/forum?id=1"})
    assert entry_url(both) == "https://openreview.net/forum?id=1"
    assert entry_url(paper()) is None


def test_misc_names_its_venue_in_howpublished_unless_eprint_says_arxiv():
    assert fields(entry_text(paper(venue="TMLR")))["howpublished"] == "TMLR"
    assert "howpublished" not in fields(entry_text(paper(arxiv="2303.01469")))
    assert "howpublished" not in fields(entry_text(paper(venue="TODO: venue")))


def test_the_whole_real_collection_exports_to_a_library_that_parses():
    library = bibtexparser.parse_string(library_text(REAL_PAPERS))
    assert not library.failed_blocks
    assert sorted(e.key for e in library.entries) == sorted(p.citation.key for p in REAL_PAPERS)
    # The build joins the pages' entries into papers.bib instead of writing each again: the same text.
    assert library_of([entry_text(p) for p in REAL_PAPERS]) == library_text(REAL_PAPERS)


@pytest.mark.parametrize("record", REAL_PAPERS, ids=[p.id for p in REAL_PAPERS])
def test_a_real_record_exported_and_imported_keeps_its_citation_metadata(record):
    entries, problems = importer.parse_bib(entry_text(record), "x.bib")
    draft, found = importer.draft_from_entry(entries[0], "x.bib", REAL.tags, dt.date(2026, 1, 1))
    assert not problems and draft is not None, [p.format() for p in found]
    back = draft.data
    assert back["title"]["en"] == record.title.en and back["authors"] == record.authors
    assert back.get("arxiv") == record.arxiv and back.get("doi") == record.doi and back["kind"] == record.kind
    assert back["citation"] == record.citation.model_dump(exclude_none=True)
    assert PubDate.parse(back["published"]).year == record.published.year
    if entry_url(record) != (f"https://arxiv.org/abs/{record.arxiv}" if record.arxiv else None):
        assert entry_url(record) in back["links"].values()


def test_cli_export_bib_writes_the_collection(project):
    out = project / "all.bib"
    result = subprocess.run([sys.executable, "-m", "digest.cli", "export-bib", "-o", str(out)], cwd=project,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "(2 entries)" in result.stderr
    keys = [e.key for e in bibtexparser.parse_string(out.read_text(encoding="utf-8")).entries]
    assert keys == ["lovelace2024alpha", "hopper2023beta"]  # newest first, as the site's papers.bib
    stdout = subprocess.run([sys.executable, "-m", "digest.cli", "export-bib"], cwd=project, capture_output=True,
                            text=True)
    assert stdout.returncode == 0 and stdout.stdout == out.read_text(encoding="utf-8")


def test_cli_export_bib_refuses_a_broken_collection_cleanly(project):
    record = project / "content" / "papers" / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace("published: 2024-01-05", "published: soon"),
                      encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "digest.cli", "export-bib"], cwd=project, capture_output=True,
                            text=True)
    assert result.returncode == 1 and "alpha-video.yaml" in result.stderr and "Traceback" not in result.stderr
