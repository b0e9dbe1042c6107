"""Demos stage: run each reference implementation's demo and claim tests, cached by a hash of their inputs.

A demo runs as `python -m reference_impls.<name>.demo --out DIR` in a subprocess, in DIR, under `DEMO_LIMITS`
(time, memory, file size, output; `run_limited` applies them for any caller); its progress lines are echoed live. The claims' tests run once per hash through pytest (JUnit XML gives each
outcome). Outputs live in `.cache/demos/<id>/` and are reused while the hash is unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy

from digest.schema import Paper

PROTOCOL = "1"  # bump when the way demos are run or stored changes
CACHE = Path(".cache/demos")
SOURCE_SUFFIXES = (".py", ".md")
SHARED_SOURCES = ("reference_impls/__init__.py", "reference_impls/demo_io.py")


@dataclass
class DemoFigure:
    file: str
    caption_en: str
    caption_zh: str
    function: str
    seed: int
    params: dict = field(default_factory=dict)

    def caption(self, lang: str) -> str:
        return self.caption_zh if lang == "zh" else self.caption_en

    @property
    def params_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))


@dataclass
class DemoMetric:
    key: str
    value: float | int | str
    label_en: str
    label_zh: str
    unit: str = ""

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    @property
    def value_text(self) -> str:
        value = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"{value} {self.unit}".strip()


@dataclass
class ClaimStatus:
    outcome: str  # "passed" | "failed" | "not_run"
    message: str = ""


@dataclass
class SourceFile:
    name: str
    text: str


@dataclass
class DemoRun:
    """What one demo (and its claims' tests) produced; `ok` is False when the demo failed."""

    paper_id: str
    hash: str
    ok: bool
    seconds: float
    figures: list[DemoFigure] = field(default_factory=list)
    metrics: list[DemoMetric] = field(default_factory=list)
    claims: dict[str, ClaimStatus] = field(default_factory=dict)
    tested_at: str = ""
    numpy: str = numpy.__version__
    error_tail: str = ""
    cached: bool = False
    out_dir: Path = Path()
    sources: list[SourceFile] = field(default_factory=list)

    @property
    def claims_passed(self) -> int:
        return sum(s.outcome == "passed" for s in self.claims.values())


def impl_sources(root: Path, paper: Paper) -> list[Path]:
    """The implementation's own files (sorted), as hashed, shown on the site and zipped for download."""
    folder = root / paper.impl.path
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES
                  and "__pycache__" not in p.parts)


def inputs_hash(root: Path, paper: Paper) -> str:
    """Hash of everything that can change a demo's output or its claims' outcome."""
    h = hashlib.sha256(f"{PROTOCOL}|{sys.version_info[:2]}|{numpy.__version__}".encode())
    for path in impl_sources(root, paper) + [root / s for s in SHARED_SOURCES]:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps([c.test for c in paper.claims]).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class DemoLimits:
    """What one demo (or its claims' tests) may use; the same limits apply in `digest build`, `digest demo` and
    any other caller of `run_limited`."""

    seconds: float = 120.0  # wall-clock time, then the process group is killed
    memory_bytes: int = 2 * 1024**3  # address space (RLIMIT_AS): an unbounded allocation fails with MemoryError
    output_bytes: int = 4 * 1024**2  # stdout + stderr together; past it the process is stopped
    file_bytes: int = 256 * 1024**2  # largest file it may write (RLIMIT_FSIZE)
    tail_lines: int = 15  # lines of output kept for the error message


DEMO_LIMITS = DemoLimits()


@dataclass
class LimitedRun:
    """How a limited process ended: its exit code (None when stopped), why it was stopped, and its output's end."""

    code: int | None
    stopped: str  # "" when it exited by itself, else the limit it hit, in words
    output: str  # the last `tail_lines` lines of stdout and stderr, interleaved

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.stopped


def _apply_limits(limits: DemoLimits) -> Callable[[], None]:
    def in_child() -> None:  # runs in the child between fork and exec
        import resource

        os.setsid()  # its own process group, so a time-out kills whatever it started too
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return in_child


def limited_env(root: Path, out_dir: Path) -> dict[str, str]:
    """Environment of a demo: the project importable, temporary files inside its output folder."""
    return {**_clean_env(), "PYTHONPATH": str(root), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": str(out_dir)}


def run_limited(cmd: list[str], cwd: Path, env: dict[str, str], limits: DemoLimits = DEMO_LIMITS,
                echo: Callable[[str], None] = lambda line: None) -> LimitedRun:
    """Run `cmd` under `limits` (time, memory, file size, output), echoing its output lines live."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, preexec_fn=_apply_limits(limits))
    tail: deque[str] = deque(maxlen=limits.tail_lines)
    state = {"bytes": 0, "stopped": ""}

    def pump():
        for raw in iter(lambda: proc.stdout.readline(64 * 1024), b""):
            state["bytes"] += len(raw)
            if state["bytes"] > limits.output_bytes:
                state["stopped"] = f"printed more than {limits.output_bytes // 1024**2} MB of output"
                _kill_group(proc)
                break
            line = raw.decode("utf-8", "replace").rstrip("\n")
            tail.append(line)
            echo(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        state["stopped"] = state["stopped"] or f"timed out after {limits.seconds:.0f} s"
        _kill_group(proc)
        proc.wait()
    reader.join(5)
    _kill_group(proc)  # anything it left running in its group
    proc.stdout.close()
    code = None if state["stopped"] else proc.returncode
    if code is not None and code < 0 and -code in (signal.SIGKILL, signal.SIGXFSZ):
        state["stopped"] = "wrote a file larger than the limit" if -code == signal.SIGXFSZ else "killed"
    if code == 1 and tail and "MemoryError" in tail[-1]:
        state["stopped"] = f"ran out of its {limits.memory_bytes // 1024**2} MB memory limit"
    return LimitedRun(code, state["stopped"], "\n".join(tail))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def demo_command(paper: Paper, out_dir: Path) -> list[str]:
    """The command that runs `paper`'s demo, writing into `out_dir`."""
    return [sys.executable, "-m", f"reference_impls.{paper.impl.path.split('/')[-1]}.demo", "--out", str(out_dir)]


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def failure_text(result: LimitedRun) -> str:
    """Why a demo failed, then the end of its output (kept as the run's `error_tail`, shown on its page)."""
    reason = result.stopped or f"exited with code {result.code}"
    return f"{reason}\n{result.output}".strip()


def failure_message(paper_id: str, error_tail: str) -> str:
    """What the build and `digest demo` print for a failed demo: its id, the limit it hit, the end of its output."""
    reason, _, output = error_tail.partition("\n")
    shown = "\n".join("    | " + line for line in output.splitlines()) or "    (no output)"
    return f"demo of `{paper_id}` failed: {reason}; the end of its output:\n{shown}"


def run_claims(root: Path, paper: Paper, out_dir: Path, limits: DemoLimits = DEMO_LIMITS) -> dict[str, ClaimStatus]:
    """Run the claims' tests once, under the demo limits; each node id gets passed or failed from pytest's JUnit
    report."""
    if not paper.claims:
        return {}
    report = out_dir / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
           *[c.test for c in paper.claims]]
    result = run_limited(cmd, root, limited_env(root, out_dir), limits)
    statuses = {c.test: ClaimStatus("not_run", result.stopped) for c in paper.claims}
    if report.exists():
        try:
            cases = list(ET.parse(report).getroot().iter("testcase"))
        except ET.ParseError:  # cut short by a limit
            cases = []
        for case in cases:
            node = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            failure = case.find("failure") if case.find("failure") is not None else case.find("error")
            if node in statuses:
                statuses[node] = ClaimStatus("failed", (failure.get("message") or "")[:300]) \
                    if failure is not None else ClaimStatus("passed")
        report.unlink()
    return statuses


def _load_cached(folder: Path, digest: str) -> DemoRun | None:
    meta = folder / "run.json"
    if not meta.exists():
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    if data.get("hash") != digest:
        return None
    return _from_json(data, folder, cached=True)


def _from_json(data: dict, folder: Path, cached: bool) -> DemoRun:
    run = DemoRun(**{k: v for k, v in data.items() if k not in ("figures", "metrics", "claims")})
    run.figures = [DemoFigure(**f) for f in data.get("figures", [])]
    run.metrics = [DemoMetric(**m) for m in data.get("metrics", [])]
    run.claims = {k: ClaimStatus(**v) for k, v in data.get("claims", {}).items()}
    run.cached, run.out_dir = cached, folder
    return run


def cached_run(root: Path, paper: Paper) -> DemoRun | None:
    """The cached outputs if they are current (no run)."""
    return _load_cached(root / CACHE / paper.id, inputs_hash(root, paper))


def run_demo(root: Path, paper: Paper, timeout: float | None = None, force: bool = False,
             echo: Callable[[str], None] = print, limits: DemoLimits = DEMO_LIMITS) -> DemoRun:
    """The demo's outputs for the current sources: from the cache when the hash matches, else a fresh run under
    `limits` (`timeout`, when given, replaces their time limit)."""
    root = root.resolve()
    if timeout is not None:
        limits = replace(limits, seconds=timeout)
    digest = inputs_hash(root, paper)
    folder = root / CACHE / paper.id
    run = None if force else _load_cached(folder, digest)
    if run is None:
        staging = root / CACHE / f".{paper.id}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        start = time.perf_counter()
        # The demo runs in its output folder (relative writes land there) with the project on its path.
        result = run_limited(demo_command(paper, staging), staging, limited_env(root, staging), limits,
                             lambda line: echo(f"  {paper.id}: {line}"))
        seconds = time.perf_counter() - start
        if result.ok and inputs_hash(root, paper) != digest:
            result = replace(result, stopped="changed files of its implementation while it ran (a demo writes "
                                             "only under its --out folder)")
        result_file = staging / "demo.json"
        ok = result.ok and result_file.exists()
        if result.ok and not ok:
            result = replace(result, stopped="wrote no demo.json (does it end with `main(run)`?)")
        data = _demo_json(result_file) if ok else {}
        if ok and data is None:
            ok, data, result = False, {}, replace(result, stopped="wrote a demo.json that is not valid")
        echo(f"  {paper.id}: checking {len(paper.claims)} claims with pytest")
        claims = run_claims(root, paper, staging, limits)
        run = DemoRun(paper.id, digest, ok, round(seconds, 2),
                      [DemoFigure(**f) for f in data.get("figures", [])],
                      [DemoMetric(**m) for m in data.get("metrics", [])], claims,
                      tested_at=time.strftime("%Y-%m-%d", time.gmtime()),
                      error_tail="" if ok else failure_text(result))
        meta = asdict(run)
        for key in ("cached", "out_dir", "sources"):
            meta.pop(key)
        (staging / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        run.out_dir = folder
    run.sources = [SourceFile(p.relative_to(root / paper.impl.path).as_posix(), p.read_text(encoding="utf-8"))
                   for p in impl_sources(root, paper)]
    return run


def _demo_json(path: Path) -> dict | None:
    """`demo.json` as written by `demo_io.write_result`, or None when it is not (the demo wrote it itself)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        [DemoFigure(**f) for f in data.get("figures", [])], [DemoMetric(**m) for m in data.get("metrics", [])]
    except (ValueError, TypeError, AttributeError):
        return None
    return data


def source_zip(root: Path, paper: Paper) -> bytes:
    """A runnable zip of the implementation (with the shared demo helpers), fixed timestamps: same sources, same
    bytes. Unzipped, `python -m reference_impls.<name>.demo --out out` runs it."""
    buffer = io.BytesIO()
    files = [root / s for s in SHARED_SOURCES] + impl_sources(root, paper)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
