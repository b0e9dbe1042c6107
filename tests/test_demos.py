"""Demos stage: subprocess run, outputs, cache by input hash, failures and time limits."""

import io
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from digest.demos import DEMO_LIMITS, demo_knobs, execute, failure_message, inputs_hash, run_demo, source_zip
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


def test_source_zip_is_byte_identical_and_stands_alone(project_with_impl, tmp_path):
    paper = alpha(project_with_impl)
    data = source_zip(project_with_impl, paper, {"alpha-video.ipynb": b"{}"})
    assert data == source_zip(project_with_impl, paper, {"alpha-video.ipynb": b"{}"})
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert {"tiny/README.md", "tiny/requirements.txt", "tiny/alpha-video.ipynb", "tiny/reference_impls/__init__.py",
            "tiny/reference_impls/demo_io.py", "tiny/reference_impls/tiny/demo.py"} <= set(archive.namelist())
    assert archive.read("tiny/requirements.txt").decode().split() == [
        "matplotlib>=3.8,<4", "numpy>=1.26,<3", "pytest>=8,<10"]
    readme = archive.read("tiny/README.md").decode()
    assert str(project_with_impl) not in readme and "/tmp" not in readme
    assert "--seed` random seed: default 0, from 0 to 9999" in readme and "--rows` rows: default 8" in readme
    archive.extractall(tmp_path / "unzipped")
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "reference_impls.tiny.demo", "--out", "out", "--rows", "3"],
                          cwd=tmp_path / "unzipped" / "tiny", env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "unzipped" / "tiny" / "out" / "demo.json").read_text())
    assert result["knobs"] == {"ROWS": 3, "SEED": 0} and {"key": "rows", "value": 3} | {} == {
        k: v for k, v in result["metrics"][1].items() if k in ("key", "value")}


def test_knobs_are_read_from_the_source_and_checked(project_with_impl):
    knobs = {k.name: k for k in demo_knobs(project_with_impl, alpha(project_with_impl))}
    assert (knobs["ROWS"].default, knobs["ROWS"].min, knobs["ROWS"].max, knobs["ROWS"].option) == (8, 2, 64, "--rows")
    assert knobs["ROWS"].check(5) == 5 and knobs["ROWS"].check(5.0) == 5
    for bad in (1, 65, 2.5, "7", True, None):
        with pytest.raises(ValueError, match="ROWS: expected"):
            knobs["ROWS"].check(bad)


def test_a_demo_refuses_an_out_of_range_knob_on_its_command_line(project_with_impl):
    done = subprocess.run([sys.executable, "-m", "reference_impls.tiny.demo", "--out", "out", "--rows", "65"],
                          cwd=project_with_impl, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "--rows 65: expected a value from 2 to 64" in done.stderr


def test_a_run_with_knobs_records_them(project_with_impl, tmp_path):
    paper = alpha(project_with_impl)
    run = execute(project_with_impl, paper, tmp_path, inputs_hash(project_with_impl, paper), SMALL, lambda line: None, {"ROWS": 4})
    assert run.ok and run.knobs == {"ROWS": 4, "SEED": 0}
    assert [m.value for m in run.metrics if m.key == "rows"] == [4]
    assert json.loads((tmp_path / "run.json").read_text())["knobs"] == {"ROWS": 4, "SEED": 0}
