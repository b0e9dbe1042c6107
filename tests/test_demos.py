"""Demos stage: subprocess run, outputs, cache by input hash, failures and time limits."""

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from digest.demos import (DEMO_LIMITS, demo_knobs, execute, failure_message, inputs_hash, run_claims, run_demo,
                          source_zip)
from digest.load import load_project
from digest.sandbox import WriteJail, landlock_abi
from tests.conftest import REPO


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
])
def test_a_demo_that_breaks_a_limit_is_stopped_and_named(project_with_impl, mode, reason):
    (project_with_impl / "reference_impls" / "tiny" / "MODE").write_text(mode)
    run = run_demo(project_with_impl, alpha(project_with_impl), limits=SMALL, echo=lambda line: None)
    assert not run.ok and run.error_tail.startswith(reason), run.error_tail
    message = failure_message("alpha-video", run.error_tail)
    assert message.startswith(f"demo of `alpha-video` failed: {reason}") and "end of its output" in message
    if mode == "spew":
        assert "    | xxxxxxxx" in message and len(run.error_tail) < 20_000


def escape_targets(root: Path, where: str) -> list[Path]:
    """Where the tiny demo tries to write, outside its output folder: the system's temporary folder, the home
    folder and the project's content (`outside`), the project's content only (`project`), or its own sources
    (`sources`, mode `escape`)."""
    name = f"digest-escape-{uuid.uuid4().hex[:8]}"
    if where == "sources":
        return [root / "reference_impls" / "tiny" / "model.py"]
    in_project = [root / "content" / "papers" / f"{name}.yaml"]
    elsewhere = [Path.home() / f".{name}", Path(tempfile.gettempdir()) / name]
    return in_project if where == "project" else in_project + elsewhere


def run_escaping(root: Path, where: str):
    """Run the tiny demo writing outside its folder: the run, its progress lines, and which targets changed."""
    targets = escape_targets(root, where)
    mode = "escape" if where == "sources" else "write " + " ".join(map(str, targets))
    (root / "reference_impls" / "tiny" / "MODE").write_text(mode)
    before = {t: t.read_bytes() if t.exists() else None for t in targets}
    lines = []
    run = run_demo(root, alpha(root), limits=SMALL, echo=lines.append)
    changed = [t for t in targets if (t.read_bytes() if t.exists() else None) != before[t]]
    for target in changed:
        if not target.is_relative_to(root):
            target.unlink()  # not confined: leave no trace outside the test's folder
    return run, lines, targets, changed


@pytest.mark.skipif(not landlock_abi(), reason="this kernel has no Landlock: the fallback test below runs instead")
@pytest.mark.parametrize("where", ["outside", "sources"])
def test_a_demo_that_writes_outside_its_folder_is_stopped_and_named(project_with_impl, where):
    run, lines, targets, changed = run_escaping(project_with_impl, where)
    assert changed == [], f"the demo wrote {changed}"
    reason = f"tried to write outside its output folder ({targets[-1]})"
    assert not run.ok and run.error_tail.startswith(reason), run.error_tail
    message = failure_message("alpha-video", run.error_tail)
    assert message.startswith(f"demo of `alpha-video` failed: {reason}")
    assert f"    | PermissionError: [Errno 13] Permission denied: '{targets[-1]}'" in message  # its output's end
    for target in targets:  # each write was refused
        assert any(f"PermissionError: [Errno 13] Permission denied: '{target}'" in line for line in lines)
    if where == "sources":  # it runs in its output folder: a relative path lands there
        assert (run.out_dir / "stray.txt").read_text() == "here" and not (project_with_impl / "stray.txt").exists()


def test_without_landlock_writes_in_the_project_are_caught_after_the_run(project_with_impl, monkeypatch):
    monkeypatch.setattr(WriteJail, "create", classmethod(lambda cls, *args, **kwargs: None))
    run, lines, targets, changed = run_escaping(project_with_impl, "project")
    assert changed == targets  # not prevented, but seen
    assert not run.ok and run.error_tail.startswith(
        f"changed files outside its output folder ({targets[0].relative_to(project_with_impl)}); this system offers "
        "no Landlock (Linux 5.13+), so writes outside the project could not be prevented or seen"), run.error_tail
    assert any("no Landlock" in line for line in lines)


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


def test_digest_demo_and_digest_build_take_the_same_lock(project_with_impl):
    from digest.build import LOCK, build_lock

    (project_with_impl / "reference_impls" / "tiny" / "MODE").write_text("hang")
    cli = [sys.executable, "-m", "digest.cli"]
    demo = subprocess.Popen([*cli, "demo", "alpha-video", "--timeout", "60"], cwd=project_with_impl,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = project_with_impl / LOCK
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().startswith(f"pid {demo.pid}, ")):
            assert demo.poll() is None and time.monotonic() < deadline, "digest demo never took the lock"
            time.sleep(0.2)
        build = subprocess.run([*cli, "build"], cwd=project_with_impl, capture_output=True, text=True)
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C: it stops its demo too
        demo.wait(30)
    assert build.returncode == 1 and "Traceback" not in build.stderr
    assert f"another build of this project is running (pid {demo.pid}, started " in build.stderr
    assert not (project_with_impl / "site").exists()

    (project_with_impl / "reference_impls" / "tiny" / "MODE").unlink()
    with build_lock(project_with_impl.resolve()):
        second = subprocess.run([*cli, "demo", "alpha-video"], cwd=project_with_impl, capture_output=True, text=True)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert f"another build of this project is running (pid {os.getpid()}, started " in second.stderr
    assert not (project_with_impl / ".cache" / "demos" / "alpha-video").exists()


def test_the_claims_tests_run_with_the_knobs_of_the_run(tmp_path):
    """activation-beacon's claim "a larger compression ratio loses more information" is a trend averaged over
    N_TRIALS random toy models: on the single model of seed 3 it breaks (alpha 32 loses less than 16), averaged
    with the next one it holds. Only the knobs passed to the tests differ."""
    paper = load_project(REPO)[0].papers["activation-beacon"]
    claim = next(c for c in paper.claims if c.test.endswith("::test_larger_alpha_loses_more"))
    one_claim = paper.model_copy(update={"claims": [claim]})
    broken = run_claims(REPO, one_claim, tmp_path, SMALL, {"SEED": 3, "N_TRIALS": 1})[claim.test]
    held = run_claims(REPO, one_claim, tmp_path, SMALL, {"SEED": 3, "N_TRIALS": 2})[claim.test]
    assert (broken.outcome, held.outcome) == ("failed", "passed"), (broken, held)
    assert broken.message.startswith("AssertionError: array([")  # the losses per alpha, not a crash
