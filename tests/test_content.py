"""The committed content: twelve complete records, two collections in the sources' order, a BibTeX that parses."""

import re

import bibtexparser
import pytest

from digest.bibtex import library_text
from digest.load import load_project
from digest.validate import validate
from tests.conftest import REPO

IDS = ["latte", "activation-beacon", "freetalker", "setformer", "flightllm", "ffsplit", "mixture-of-transformers",
       "bitnet-a4-8", "llm-from-scratch-middle-school-math", "consistency-models", "llama-factory", "d-fine"]


@pytest.fixture(scope="module")
def project():
    loaded, problems = load_project(REPO)
    assert problems == []
    return loaded


def test_content_passes_strict_check(project):
    assert [p.format() for p in validate(project, strict=True)] == []


def test_the_twelve_works_are_there(project):
    assert sorted(project.papers) == sorted(IDS)
    assert project.papers["llm-from-scratch-middle-school-math"].kind == "article"
    assert project.papers["llm-from-scratch-middle-school-math"].arxiv is None


@pytest.mark.parametrize("paper_id", IDS)
def test_each_record_is_complete(project, paper_id):
    paper = project.papers[paper_id]
    words = len(paper.summary.en.split())
    assert 150 <= words <= 300, words
    assert 3 <= len(paper.contributions.en) <= 5 and len(paper.contributions.zh) == len(paper.contributions.en)
    assert paper.method is not None and "$" in paper.method.en and "$" in paper.method.zh
    assert 2 <= len(paper.claims) <= 5 and paper.impl is not None
    assert paper.limitations is not None


def test_collections_keep_the_sources_order(project):
    digest = project.collections["machine-perception-2024-01"]
    assert [e.paper for e in digest.papers] == IDS[:6]
    series = project.collections["reading-series"]
    assert [e.paper for e in series.papers] == IDS[6:]
    assert [e.label.zh for e in series.papers] == ["论文阅读十三", "论文阅读十", "文章阅读一", "论文阅读八",
                                                   "论文阅读七", "论文阅读五"]


def test_papers_bib_has_twelve_entries_that_parse(project):
    library = bibtexparser.parse_string(library_text(list(project.papers.values())))
    assert not library.failed_blocks
    assert len(library.entries) == 12
    arxiv = [e for e in library.entries if "eprint" in e.fields_dict]
    assert all(e.fields_dict["archivePrefix"].value == "arXiv" for e in arxiv) and len(arxiv) == 11


def test_headline_numbers_from_the_sources_are_in_the_results(project):
    def values(paper_id):
        return " ".join(str(r.value) for r in project.papers[paper_id].results)

    assert re.search(r"84\.7", values("setformer")) and re.search(r"86\.2", values("setformer"))
    assert "3.55" in values("consistency-models") and "6.2" in values("consistency-models")
    assert "55.8" in values("mixture-of-transformers") and "37.2" in values("mixture-of-transformers")
    assert "54" in values("d-fine") and "55.8" in values("d-fine") and "5.3" in values("d-fine")
    assert "43.1" in values("ffsplit")
