"""Demos stage: subprocess run, outputs, cache by input hash, failures and time limits."""

from pathlib import Path

from dataclasses import replace

import pytest

from digest.demos import DEMO_LIMITS, failure_message, inputs_hash, run_demo, source_zip
from digest.load import load_project


def alpha(root: Path):
    project, _ = load_project(root)
    return project.papers["alpha-video"]


def test_demo_writes_figures_metrics_and_claim_outcomes(project_with_impl):
    lines = []
    run = run_demo(project_with_impl, alpha(project_with_impl), echo=lines.append)
    assert run.ok and not run.cached
    assert [f.file for f in run.figures] == ["probs.svg"]
    assert (run.out_dir / "probs.svg").read_bytes().startswith(b"<?xml")
    assert {m.key for m in run.metrics} == {"row_sum_max_err", "rows"}
    outcomes = {k.split("::")[1]: v.outcome for k, v in run.claims.items()}
    assert outcomes == {"test_rows_sum_to_one": "passed", "test_deliberately_false": "failed"}
    assert any("[1/2] sampling logits" in line for line in lines)  # progress is echoed live


def test_unchanged_inputs_reuse_the_cache_and_a_change_reruns(project_with_impl):
    paper = alpha(project_with_impl)
    first = run_demo(project_with_impl, paper, echo=lambda line: None)
    assert run_demo(project_with_impl, paper, echo=lambda line: None).cached
    model = project_with_impl / "reference_impls" / "tiny" / "model.py"
    model.write_text(model.read_text() + "\n# changed\n")
    assert inputs_hash(project_with_impl, paper) != first.hash
    assert not run_demo(project_with_impl, paper, echo=lambda line: None).cached


def test_a_failing_demo_reports_the_end_of_its_stderr(project_with_impl):
    (project_with_impl / "reference_impls" / "tiny" / "MODE").write_text("fail")
    run = run_demo(project_with_impl, alpha(project_with_impl), echo=lambda line: None)
    assert not run.ok and "the tiny demo was told to fail" in run.error_tail


def test_a_demo_past_its_time_limit_is_stopped(project_with_impl):
    (project_with_impl / "reference_impls" / "tiny" / "MODE").write_text("hang")
    run = run_demo(project_with_impl, alpha(project_with_impl), timeout=3, echo=lambda line: None)
    assert not run.ok and "timed out after 3 s" in run.error_tail


# Small limits keep these fast; the build uses DEMO_LIMITS, which differ only in size.
SMALL = replace(DEMO_LIMITS, seconds=30, memory_bytes=1536 * 1024**2, output_bytes=200_000)


@pytest.mark.parametrize("mode, reason", [
    ("hog", "ran out of its 1536 MB memory limit"),
    ("spew", "printed more than 0 MB of output"),
    ("escape", "changed files of its implementation while it ran"),
])
def test_a_demo_that_breaks_a_limit_is_stopped_and_named(project_with_impl, mode, reason):
    (project_with_impl / "reference_impls" / "tiny" / "MODE").write_text(mode)
    run = run_demo(project_with_impl, alpha(project_with_impl), limits=SMALL, echo=lambda line: None)
    assert not run.ok and run.error_tail.startswith(reason), run.error_tail
    message = failure_message("alpha-video", run.error_tail)
    assert message.startswith(f"demo of `alpha-video` failed: {reason}") and "end of its output" in message
    if mode == "spew":
        assert "    | xxxxxxxx" in message and len(run.error_tail) < 20_000
    if mode == "escape":  # it runs in its output folder: a relative path lands there
        assert (run.out_dir / "stray.txt").read_text() == "here" and not (project_with_impl / "stray.txt").exists()


def test_source_zip_is_byte_identical_and_runnable_layout(project_with_impl):
    paper = alpha(project_with_impl)
    data = source_zip(project_with_impl, paper)
    assert data == source_zip(project_with_impl, paper)
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "reference_impls/demo_io.py" in names and "reference_impls/tiny/demo.py" in names
