"""`digest new`: a record with TODOs that validates, a skeleton that runs, and the "Add a paper" page, followed."""

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from digest import importer
from digest.demos import run_demo
from digest.load import load_project
from digest.problems import DigestError
from digest.scaffold import new_paper
from tests.conftest import REPO, make_project

TODAY = dt.date(2026, 11, 23)
BIB = """@inproceedings{ho2020denoising,
  author = {Ho, Jonathan and Jain, Ajay and Abbeel, Pieter},
  title = {Denoising Diffusion Probabilistic Models},
  booktitle = {Advances in Neural Information Processing Systems},
  volume = {33}, pages = {6840--6851}, year = {2020}, eprint = {2006.11239}, archivePrefix = {arXiv}
}
@misc{untitled2020, author = {Doe, Jane}, year = {2020}}
@inproceedings{hopper2023beta, title = {Beta Attention}, author = {Hopper, Grace}, year = {2023}}
"""

# A reader's `python -m pytest` loads no plugin of this test environment's (hypothesis alone takes a second to
# import), as the claims run (digest/demos.run_claims) and a download's README run (tests/test_downloads.py).
BARE_PYTEST = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def digest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], cwd=cwd, capture_output=True, text=True)


def todo_lines(text: str) -> set[int]:
    """Lines whose value (not only a comment) says TODO; a block scalar counts at its `key: |` line."""
    out, block_key, block_indent = set(), 0, 0
    for n, line in enumerate(text.splitlines(), 1):
        indent = len(line) - len(line.lstrip())
        if block_key and line.strip() and indent <= block_indent:
            block_key = 0
        if "TODO" in line.split(" # ")[0]:
            out.add(block_key or n)
        if re.search(r":\s*\|[-+]?$", line):
            block_key, block_indent = n, indent
    return out


@pytest.fixture
def bib(project: Path) -> Path:
    path = project / "refs.bib"
    path.write_text(BIB, encoding="utf-8")
    return path


def test_new_from_bib_fills_the_metadata_and_marks_the_rest_todo(project, bib):
    written = new_paper(project, "ddpm", bib=bib, key="ho2020denoising", today=TODAY)
    rel = sorted(p.relative_to(project).as_posix() for p in written)
    assert rel == ["content/papers/ddpm.yaml", "reference_impls/ddpm/README.md", "reference_impls/ddpm/__init__.py",
                   "reference_impls/ddpm/demo.py", "reference_impls/ddpm/model.py",
                   "reference_impls/ddpm/test_ddpm.py"]
    text = (project / "content" / "papers" / "ddpm.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == importer.MODELINE
    data = yaml.safe_load(text)
    assert list(data) == [k for k in importer.FIELD_ORDER if k in data]  # the order of record-format.md
    assert data["title"]["en"] == "Denoising Diffusion Probabilistic Models"
    assert data["authors"] == ["Jonathan Ho", "Ajay Jain", "Pieter Abbeel"]
    assert (data["venue"], data["arxiv"], data["published"]) == ("NeurIPS 2020", "2006.11239", "2020-06")
    assert data["status"] == "draft" and "TODO" in data["tldr"]["en"]
    assert data["citation"]["key"] == "ho2020denoising" and data["tags"] == ["diffusion"]
    assert data["impl"]["path"] == "reference_impls/ddpm"
    assert data["claims"][0]["test"] == "reference_impls/ddpm/test_ddpm.py::test_rows_sum_to_one"
    project_, problems = load_project(project)
    assert not problems and "ddpm" in project_.papers


def test_new_with_arxiv_fills_id_link_and_month_and_fetches_nothing(project):
    new_paper(project, "mixtral", arxiv="https://arxiv.org/abs/2401.04088v3", today=TODAY)
    data = yaml.safe_load((project / "content" / "papers" / "mixtral.yaml").read_text(encoding="utf-8"))
    assert data["arxiv"] == "2401.04088" and data["links"] == {"pdf": "https://arxiv.org/pdf/2401.04088"}
    assert data["published"] == "2024-01" and data["venue"] == "arXiv" and data["status"] == "draft"
    assert "TODO" in data["title"]["en"] and all("TODO" in a for a in data["authors"])


def test_check_lists_a_drafts_todos_and_a_digested_record_may_keep_none(project, bib):
    assert digest("new", "ddpm", "--from-bib", "refs.bib", "--key", "ho2020denoising", cwd=project).returncode == 0
    assert digest("new", "blank-paper", cwd=project).returncode == 0
    check = digest("check", cwd=project)
    assert check.returncode == 0, check.stderr
    assert "2 papers, 1 collections; 0 queued, 2 drafts" in check.stdout
    assert "warning: tldr.en: still marked TODO" in check.stderr
    strict = digest("check", "--strict", cwd=project)  # a draft is not published: its TODOs stay warnings
    assert re.search(r"ddpm\.yaml:\d+:\d+: warning: tldr\.en: still marked TODO", strict.stderr)
    for paper_id in ("ddpm", "blank-paper"):
        path = project / "content" / "papers" / f"{paper_id}.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("status: draft", "status: digested"), "utf-8")
    check = digest("check", cwd=project)  # even without --strict: the TODOs would be text on the pages
    assert check.returncode == 1 and "Traceback" not in check.stderr
    rel = "content/papers/ddpm.yaml"
    reported = {int(m.group(1)) for m in re.finditer(rf"{re.escape(rel)}:(\d+):\d+: error: [\w.\[\]]+: "
                                                     r"still marked TODO", check.stderr)}
    assert reported == todo_lines((project / rel).read_text(encoding="utf-8"))
    assert "content/papers/blank-paper.yaml:4:1: error: tags: required field is missing: the record says " \
        "status: digested" in check.stderr  # no tag was chosen: `tags: []`


def test_the_skeleton_runs_its_demo_draws_a_figure_and_its_claim_passes(project, bib):
    new_paper(project, "ddpm", bib=bib, key="ho2020denoising", today=TODAY)
    paper = load_project(project)[0].papers["ddpm"]
    run = run_demo(project, paper, echo=lambda line: None)
    assert run.ok, run.error_tail
    assert [f.file for f in run.figures] == ["weights.svg"] and (run.out_dir / "weights.svg").stat().st_size > 5000
    metrics = {m.key: m.value for m in run.metrics}
    assert metrics["row_sum_max_error"] < 1e-12 and metrics["entropy_low_t"] < metrics["entropy_high_t"]
    assert run.claims_passed == 1
    for name in ("model.py", "demo.py", "test_ddpm.py", "README.md"):
        assert "TODO" in (project / "reference_impls" / "ddpm" / name).read_text(encoding="utf-8")


def test_the_skeleton_test_is_a_real_test_that_fails_on_a_wrong_mechanism(project, bib):
    new_paper(project, "ddpm", bib=bib, key="ho2020denoising", today=TODAY)
    model = project / "reference_impls" / "ddpm" / "model.py"
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "reference_impls/ddpm"]
    assert subprocess.run(pytest_cmd, cwd=project, env=BARE_PYTEST, capture_output=True).returncode == 0
    model.write_text(model.read_text(encoding="utf-8").replace("return e / e.sum(axis=axis, keepdims=True)",
                                                               "return e"), encoding="utf-8")
    assert subprocess.run(pytest_cmd, cwd=project, env=BARE_PYTEST, capture_output=True).returncode == 1


def test_new_refuses_to_overwrite_a_record_or_an_implementation(project, bib):
    record = project / "content" / "papers" / "alpha-video.yaml"
    before = record.read_text(encoding="utf-8")
    result = digest("new", "alpha-video", cwd=project)
    assert result.returncode == 1 and "content/papers/alpha-video.yaml already exists" in result.stderr
    assert record.read_text(encoding="utf-8") == before and not (project / "reference_impls" / "alpha_video").exists()
    (project / "reference_impls" / "gamma").mkdir()
    result = digest("new", "gamma", cwd=project)
    assert result.returncode == 1 and "reference_impls/gamma already exists" in result.stderr
    assert not (project / "content" / "papers" / "gamma.yaml").exists()


@pytest.mark.parametrize("args, message", [
    (["new", "My Paper"], "is not a valid id"),
    (["new", "x", "--arxiv", "1234"], "`1234` is not an arXiv id"),
    (["new", "x", "--key", "ho2020denoising"], "--from-bib FILE and --key KEY go together"),
    (["new", "x", "--from-bib", "refs.bib", "--key", "ho2020denoisin"], "did you mean `ho2020denoising`?"),
    (["new", "x", "--from-bib", "refs.bib", "--key", "untitled2020"], "refs.bib:7:1: error: untitled2020: no title"),
    (["new", "x", "--tag", "nope"], "--tag nope: not a tag of content/tags.yaml"),
    (["new", "x", "--arxiv", "2401.00001"], "arXiv 2401.00001 is already content/papers/alpha-video.yaml"),
    (["new", "x", "--from-bib", "refs.bib", "--key", "hopper2023beta"],
     "citation key `hopper2023beta` is already used by content/papers/beta-attention.yaml"),
])
def test_new_errors_are_clean_and_write_nothing(project, bib, args, message):
    result = digest(*args, cwd=project)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "content" / "papers" / "x.yaml").exists() and not (project / "reference_impls" / "x").exists()


def test_new_raises_digest_error_for_a_bad_id_in_the_library(project):
    with pytest.raises(DigestError, match="not a valid id"):
        new_paper(project, "Bad_Id")


# ---- a new user follows the page ------------------------------------------------------------------------------


def blocks(page: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", page, flags=re.S | re.M)


def page_commands(page: str) -> list[str]:
    """The page's shell commands that a reader runs, in order (a second `digest build` only repeats the first)."""
    lines = [line.strip() for block in blocks(page, "bash") for line in block.splitlines()]
    wanted = [line for line in lines if line.startswith(("digest ", "python -m pytest")) and line != "digest serve"]
    return [line for i, line in enumerate(wanted) if line != "digest build" or line not in wanted[:i]]


def test_the_add_a_paper_page_in_both_languages_gives_the_same_example():
    en = (REPO / "pages" / "en" / "add-a-paper.md").read_text(encoding="utf-8")
    zh = (REPO / "pages" / "zh" / "add-a-paper.md").read_text(encoding="utf-8")
    for lang in ("bibtex", "bash", "yaml", "text", "python"):
        assert blocks(en, lang) and blocks(en, lang) == blocks(zh, lang), lang


def write_the_digest(root: Path) -> None:
    """What the writer does between steps 2 and 6, in short: every TODO of the record and demo replaced."""
    record = root / "content" / "papers" / "ddpm.yaml"
    text = re.sub(r"\s*#\s*TODO[^\n]*", "", record.read_text(encoding="utf-8"))
    record.write_text(re.sub(r"TODO[:：]\s*", "Written ", text), encoding="utf-8")
    demo = root / "reference_impls" / "ddpm" / "demo.py"
    demo.write_text(demo.read_text(encoding="utf-8").replace("TODO placeholder: ", "").replace("TODO 占位：", ""),
                    encoding="utf-8")


def test_a_new_user_follows_the_page_from_a_bibtex_entry_to_a_page_in_both_languages(tmp_path):
    """Runs the worked example of pages/en/add-a-paper.md literally in a fresh copy of the project."""
    page = (REPO / "pages" / "en" / "add-a-paper.md").read_text(encoding="utf-8")
    root = make_project(tmp_path)
    (bib,) = blocks(page, "bibtex")
    (root / "refs.bib").write_text(bib, encoding="utf-8")
    commands = page_commands(page)
    assert commands[:7] == ["digest check", "digest new ddpm --from-bib refs.bib --key ho2020denoising",
                            "digest check", "digest demo ddpm", "digest build", "digest status",
                            "python -m pytest reference_impls/ddpm"]
    record_path = root / "content" / "papers" / "ddpm.yaml"
    outputs = {}
    for command in commands:
        if command == "digest check --strict":  # step 6: the writer marks the record digested first
            record_path.write_text(record_path.read_text(encoding="utf-8").replace("status: draft", "status: "
                                                                                   "digested"), encoding="utf-8")
        argv = command.split()
        argv = [sys.executable, "-m", "digest.cli", *argv[1:]] if argv[0] == "digest" else [sys.executable, *argv[1:]]
        result = subprocess.run(argv, cwd=root, env=BARE_PYTEST, capture_output=True, text=True)
        expected = 1 if "--strict" in command else 0  # strict fails while TODOs are left, as the page says
        assert result.returncode == expected, f"{command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        outputs[command] = result
        if command.startswith("digest new"):
            new_record = record_path.read_text(encoding="utf-8")
        if command == "digest build":  # step 3: a draft is on the reading queue, with no page of its own
            for prefix in ("", "zh/"):
                queue = (root / "site" / prefix / "queue" / "index.html").read_text(encoding="utf-8")
                assert "Denoising Diffusion Probabilistic Models" in queue
                assert not (root / "site" / prefix / "papers" / "ddpm").exists()
        if command == "digest check --strict":
            assert "ddpm.yaml:18:7: error: tldr.en: still marked TODO" in result.stderr
            write_the_digest(root)
    assert "1 draft" in outputs["digest status"].stdout and "ddpm: " in outputs["digest status"].stdout
    (warning,) = blocks(page, "text")
    assert warning.strip().splitlines()[0] in outputs["digest check"].stderr
    generated = next(b for b in blocks(page, "yaml") if "id: ddpm" in b)
    build = subprocess.run([sys.executable, "-m", "digest.cli", "build"], cwd=root, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    for prefix in ("", "zh/"):
        html = (root / "site" / prefix / "papers" / "ddpm" / "index.html").read_text(encoding="utf-8")
        assert "Denoising Diffusion Probabilistic Models" in html and "weights.svg" in html
        assert "TODO" not in html
        assert (root / "site" / prefix / "add-a-paper" / "index.html").is_file()
    assert (root / "site" / "assets" / "demos" / "ddpm" / "weights.svg").is_file()
    assert "skipped" in outputs["digest import refs.bib"].stdout  # the paper is already there
    assert "ho2020denoising" in (root / "papers.bib").read_text(encoding="utf-8")
    assert new_record.startswith(generated), "the page's record excerpt differs from what `digest new` writes"


# ---- from the reading queue to a draft: `digest start` and `digest status` -------------------------------------

QUEUED = """\
# yaml-language-server: $schema=../../schema/paper.schema.json
id: gamma-queued
kind: paper
status: queued
title:
  en: 'Gamma: A Queued Paper'
authors: [Grace Hopper]
published: 2019-06
arxiv: '1906.00001'
links:
  pdf: https://arxiv.org/pdf/1906.00001
added: 2026-11-01
citation:
  type: misc
  key: hopper2019gamma
"""


def test_start_turns_a_queued_record_into_a_draft_keeping_its_facts(project):
    path = project / "content" / "papers" / "gamma-queued.yaml"
    path.write_text(QUEUED, encoding="utf-8")
    result = digest("start", "gamma-queued", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "updated content/papers/gamma-queued.yaml" in result.stdout
    assert "created reference_impls/gamma_queued/model.py" in result.stdout
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    before = yaml.safe_load(QUEUED)
    assert {k: data[k] for k in ("authors", "published", "arxiv", "links", "added", "citation")} == \
        {k: before[k] for k in ("authors", "published", "arxiv", "links", "added", "citation")}
    assert data["status"] == "draft" and data["title"] == {"en": "Gamma: A Queued Paper", "zh": importer.TITLE_ZH_TODO}
    assert data["tldr"] == importer.TODO_TEXTS["tldr"] and data["venue"] == importer.VENUE_TODO
    assert data["impl"]["path"] == "reference_impls/gamma_queued" and data["tags"] == []
    assert "tags: []  # TODO: pick the tags" in path.read_text(encoding="utf-8")
    loaded, problems = load_project(project)
    assert not [p for p in problems if p.severity == "error"] and loaded.papers["gamma-queued"].status == "draft"
    again = digest("start", "gamma-queued", cwd=project)
    assert again.returncode == 1 and "is a draft already" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("paper_id, message", [
    ("alpha-video", "`alpha-video` is digested: `digest start` begins the digest of a queued record"),
    ("gamma-queue", "no record `gamma-queue` in content/papers; did you mean `gamma-queued`?"),
])
def test_start_refuses_what_is_not_queued(project, paper_id, message):
    (project / "content" / "papers" / "gamma-queued.yaml").write_text(QUEUED, encoding="utf-8")
    result = digest("start", paper_id, cwd=project)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_status_counts_the_states_and_ranks_drafts_by_what_is_left(project, bib):
    (project / "content" / "papers" / "gamma-queued.yaml").write_text(QUEUED, encoding="utf-8")
    new_paper(project, "ddpm", bib=bib, key="ho2020denoising", today=TODAY)
    new_paper(project, "blank-paper", today=TODAY)
    path = project / "content" / "papers" / "ddpm.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("TODO：中文标题", "去噪扩散概率模型"), encoding="utf-8")
    result = digest("status", cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1 queued, 2 draft, 2 digested"
    assert lines[2].startswith("  ddpm: 15 left: tldr.en: still marked TODO")
    assert lines[3].startswith("  blank-paper: ") and int(lines[3].split()[1]) > 15
