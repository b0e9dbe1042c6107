"""The command line: clean errors (no traceback, non-zero exit) and the check summary."""

import subprocess
import sys
from pathlib import Path


def digest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_check_passes_and_summarises(project):
    result = digest("check", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "2 papers, 1 collections" in result.stdout


def test_check_on_a_broken_record_prints_located_errors_and_no_traceback(project):
    record = project / "content" / "papers" / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace("venue: TMLR", "venue: [TMLR]"), encoding="utf-8")
    result = digest("check", cwd=project)
    assert result.returncode == 1
    assert "content/papers/alpha-video.yaml:7:8: error: venue: expected text, got a list" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_on_hostile_files_names_each_with_its_line_and_no_traceback(project):
    papers = project / "content" / "papers"
    (papers / "nul.yaml").write_bytes(b"id: nul\ntitle: a\0b\n")
    (papers / "wide.yaml").write_bytes("id: wide\n".encode("utf-16"))
    (papers / "laughs.yaml").write_bytes(b"a: &a [x, x]\nb: [*a, *a]\n")
    result = digest("check", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for line in ("content/papers/nul.yaml:2:9: error: control character U+0000",
                 "content/papers/wide.yaml:1:1: error: saved as UTF-16",
                 "content/papers/laughs.yaml:2:5: error: YAML aliases"):
        assert line in result.stderr, result.stderr


def test_strict_turns_warnings_into_errors(project):
    assert digest("check", cwd=project).returncode == 0
    result = digest("check", "--strict", cwd=project)
    assert result.returncode == 1 and "no Chinese text" in result.stderr


def test_outside_a_project_the_error_says_where_to_run(tmp_path):
    result = digest("check", cwd=tmp_path)
    assert result.returncode == 1 and "no content folder here" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_build_outside_a_project_or_into_a_closed_pipe_ends_cleanly(project, tmp_path):
    """`digest build --root` of a folder without mkdocs.yml says so; output into a pipe whose reader went away
    (`digest check | head -0`) ends the command with status 1 and no internal error."""
    result = digest("build", "--root", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 1 and "no mkdocs.yml here" in result.stderr and "internal error" not in result.stderr
    process = subprocess.Popen([sys.executable, "-m", "digest.cli", "check"], cwd=project, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    assert process.wait(timeout=60) == 1
    assert process.stderr.read() == ""


def test_demo_prints_metrics_claims_and_lists(project_with_impl):
    result = digest("demo", "alpha-video", cwd=project_with_impl)
    assert result.returncode == 0, result.stderr
    assert "max row-sum error" in result.stdout and "claim rows-sum-to-one: passed" in result.stdout
    assert "[1/2] sampling logits" in result.stdout  # progress, echoed live
    listing = digest("demo", "--list", cwd=project_with_impl)
    assert "alpha-video" in listing.stdout and "ok, claims 1/2" in listing.stdout


def test_demo_of_an_unknown_paper_suggests_one(project_with_impl):
    result = digest("demo", "alpha-vid", cwd=project_with_impl)
    assert result.returncode == 1 and "did you mean `alpha-video`?" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_also_leaves_a_flag_that_serve_stops_on(project, monkeypatch):
    """SIGTERM raises KeyboardInterrupt in the command and sets TERMINATED, which `digest serve` is given as its
    stop: an interrupt that lands where Python ignores exceptions (an at-fork hook while a build forks) is lost,
    and serve still ends once the build it was in has finished."""
    import signal

    import pytest
    from click.testing import CliRunner

    from digest import cli

    previous = cli._interrupt_on_sigterm()
    try:
        handler = signal.getsignal(signal.SIGTERM)
        cli.TERMINATED.clear()
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGTERM, None)
        assert cli.TERMINATED.is_set()
    finally:
        signal.signal(signal.SIGTERM, previous)
        cli.TERMINATED.clear()
    given = {}
    monkeypatch.setattr("digest.serve.serve", lambda root, port, **kwargs: given.update(kwargs))
    assert CliRunner().invoke(cli.main, ["serve", "--root", str(project)]).exit_code == 0
    assert given["stop"] is cli.TERMINATED
