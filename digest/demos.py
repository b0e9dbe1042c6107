"""Demos stage: run each reference implementation's demo and claim tests, cached by a hash of their inputs.

A demo runs as `python -m reference_impls.<name>.demo --out DIR` in a subprocess, in DIR, under `DEMO_LIMITS`
(time, memory, file size, output; `run_limited` applies them for any caller) and may write only there
(Landlock, digest/sandbox.py); its progress lines are echoed live. The claims' tests run once per hash through
pytest (JUnit XML gives each outcome). Outputs live in `.cache/demos/<id>/` and are reused while the hash is unchanged.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from digest.sandbox import WriteJail, changed_files, tree_snapshot
from digest.schema import Paper

PROTOCOL = "2"  # bump when the way demos are run or stored changes
CACHE = Path(".cache/demos")
MPL_CACHE = Path(".cache/matplotlib")
KNOBS_ENV = "DEMO_KNOBS"  # the run's knobs for the claims' tests (reference_impls/demo_io.py reads it)
RUNS_CACHE = Path(".cache/runs")  # runs from the page (digest/runs.py), which may run beside a build
SOURCE_SUFFIXES = (".py", ".md")
SHARED_SOURCES = ("reference_impls/__init__.py", "reference_impls/demo_io.py")
# What a downloaded implementation installs: each third-party module an implementation may import, with the
# version range the project is tested in (pyproject.toml's lower bounds, below the next major version).
REQUIREMENTS = {"numpy": "numpy>=1.26,<3", "matplotlib": "matplotlib>=3.8,<4", "pytest": "pytest>=8,<10"}
IMPORT_LINE = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)  # the top-level module of each import


@dataclass
class Knob:
    """One constant of a demo that a reader may change: its default and the allowed range."""

    name: str
    default: int | float
    min: int | float
    max: int | float
    label_en: str
    label_zh: str

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    @property
    def option(self) -> str:
        return "--" + self.name.lower().replace("_", "-")

    def check(self, value) -> int | float:
        """`value` as the knob's type if it lies in range; ValueError with what was expected otherwise."""
        kind = type(self.default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ValueError(f"{self.name}: expected {'an integer' if kind is int else 'a number'}, got {value!r}")
        if not self.min <= value <= self.max:
            raise ValueError(f"{self.name}: expected a value from {self.min} to {self.max}, got {value}")
        return kind(value)


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


@functools.cache
def numpy_version() -> str:
    """The numpy that demos run with, imported when a demo is looked at (at start-up it is a sixth of
    `digest build`'s imports, for a project whose papers may have no implementation)."""
    import numpy

    return numpy.__version__


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
    numpy: str = field(default_factory=numpy_version)
    python: str = ".".join(map(str, sys.version_info[:3]))
    knobs: dict = field(default_factory=dict)
    error_tail: str = ""
    cached: bool = False
    out_dir: Path = Path()
    sources: list[SourceFile] = field(default_factory=list)
    knob_specs: list[Knob] = field(default_factory=list)

    @property
    def knobs_json(self) -> str:
        """The knobs for the Run box's script: name, option, label, type, range and the value on the page."""
        return json.dumps([{"name": k.name, "option": k.option, "en": k.label_en, "zh": k.label_zh,
                            "integer": isinstance(k.default, int), "min": k.min, "max": k.max,
                            "value": self.knobs.get(k.name, k.default)} for k in self.knob_specs],
                          ensure_ascii=False)

    @property
    def claims_passed(self) -> int:
        return sum(s.outcome == "passed" for s in self.claims.values())


def impl_sources(root: Path, paper: Paper) -> list[Path]:
    """The implementation's own files (sorted), as hashed, shown on the site and zipped for download."""
    folder = root / paper.impl.path
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES
                  and "__pycache__" not in p.parts)


def impl_name(paper: Paper) -> str:
    """The implementation's package name (`reference_impls/<name>`)."""
    return paper.impl.path.split("/")[-1]


def demo_knobs(root: Path, paper: Paper) -> list[Knob]:
    """The demo's `KNOBS`, read from its source without importing it (the server and the renderer stay light)."""
    tree = ast.parse((root / paper.impl.path / "demo.py").read_text(encoding="utf-8"))
    constants, specs = {}, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            constants[node.targets[0].id] = value
    specs = constants.get("KNOBS", {})
    return [Knob(name, constants[name], spec["min"], spec["max"], spec["en"], spec["zh"])
            for name, spec in specs.items()]


def inputs_hash(root: Path, paper: Paper) -> str:
    """Hash of everything that can change a demo's output or its claims' outcome."""
    h = hashlib.sha256(f"{PROTOCOL}|{sys.version_info[:2]}|{numpy_version()}".encode())
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


def _apply_limits(limits: DemoLimits, jail: WriteJail | None) -> Callable[[], None]:
    def in_child() -> None:  # runs in the child between fork and exec
        import resource

        os.setsid()  # its own process group, so a time-out kills whatever it started too
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if jail is not None:
            jail.enter()
    return in_child


def limited_env(root: Path, out_dir: Path) -> dict[str, str]:
    """Environment of a demo: the project importable, matplotlib's font cache read from a folder of its own
    (built there once, so a confined demo never needs to write it), temporary files inside its output folder
    (`run_limited` gives a confined run a private TMPDIR instead)."""
    return {**_clean_env(), "PYTHONPATH": str(root), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(_matplotlib_cache(root)), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(out_dir)}


def _matplotlib_cache(root: Path) -> Path:
    """Matplotlib's config and font cache folder for demos, its font list built (by matplotlib, unconfined): one
    per user (`~/.cache/paper-digest/matplotlib`, no user matplotlibrc in it), else the project's .cache."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paper-digest" / "matplotlib"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = root / MPL_CACHE
        folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.glob("fontlist-*.json")):
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env={
            **_clean_env(), "MPLCONFIGDIR": str(folder), "MPLBACKEND": "Agg"}, capture_output=True, check=False)
    return folder


NOT_CONFINED = ("this system offers no Landlock (Linux 5.13+), so writes outside the project could not be "
                "prevented or seen")
DENIED = re.compile(r"(?:PermissionError|OSError): \[Errno (?:13|30)\] [^:']*: '([^']+)'")


def run_limited(cmd: list[str], cwd: Path, env: dict[str, str], limits: DemoLimits = DEMO_LIMITS,
                echo: Callable[[str], None] = lambda line: None, writable: Path | None = None,
                project: Path | None = None) -> LimitedRun:
    """Run `cmd` under `limits` (time, memory, file size, output), echoing its output lines live.

    With `writable`, the process (and whatever it starts) may write only under that folder, in a private TMPDIR
    and to /dev/null: Landlock refuses every other write, and a refused write stops the run with its path.
    Where the kernel has no Landlock, files changed under `project` (outside `writable`) stop it instead."""
    if writable is None:
        return _run_limited(cmd, cwd, env, limits, echo, None)
    scratch = Path(tempfile.mkdtemp(prefix="digest-demo-"))
    env = {**env, "TMPDIR": str(scratch)}
    try:
        jail = WriteJail.create([writable, scratch])
        if jail is not None:
            try:
                return _name_refused_write(_run_limited(cmd, cwd, env, limits, echo, jail), jail, cwd)
            except subprocess.SubprocessError:  # a seccomp filter let the ruleset be made but not entered
                pass
            finally:
                jail.close()
        echo(f"note: {NOT_CONFINED}; files changed in the project are checked after the run")
        skip = [writable, scratch, *(project / p for p in (".git", MPL_CACHE, RUNS_CACHE))] if project else []
        before = tree_snapshot(project, skip) if project else {}
        result = _run_limited(cmd, cwd, env, limits, echo, None)
        changed = changed_files(before, tree_snapshot(project, skip)) if project else []
        if changed:
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            result = replace(result, stopped=f"changed files outside its output folder ({shown}); {NOT_CONFINED}")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _name_refused_write(result: LimitedRun, jail: WriteJail, cwd: Path) -> LimitedRun:
    """`result`, stopped with the path when it failed on a write that the jail refused."""
    if result.ok or result.stopped:
        return result
    outside = [path for path in DENIED.findall(result.output) if not jail.allows(os.path.join(cwd, path))]
    if not outside:
        return result
    return replace(result, stopped=f"tried to write outside its output folder ({outside[-1]}): a demo writes only "
                                   "under its --out folder and $TMPDIR")


def _run_limited(cmd: list[str], cwd: Path, env: dict[str, str], limits: DemoLimits,
                 echo: Callable[[str], None], jail: WriteJail | None) -> LimitedRun:
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, preexec_fn=_apply_limits(limits, jail))
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
    except BaseException:  # Ctrl-C: the demo is in a session of its own, so the terminal's signal missed it
        _kill_group(proc)
        raise
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


def demo_command(paper: Paper, out_dir: Path, knob_args: tuple[str, ...] = ()) -> list[str]:
    """The command that runs `paper`'s demo, writing into `out_dir` (`knob_args`: options such as --seed 3)."""
    return [sys.executable, "-m", f"reference_impls.{impl_name(paper)}.demo", "--out", str(out_dir), *knob_args]


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


def run_claims(root: Path, paper: Paper, out_dir: Path, limits: DemoLimits = DEMO_LIMITS,
               knobs: dict | None = None) -> dict[str, ClaimStatus]:
    """Run the claims' tests once, under the demo limits, with the run's `knobs` in $DEMO_KNOBS (the tests read
    them through `demo_io.claim_knobs`; none: the demo's defaults); each node id gets passed or failed from
    pytest's JUnit report.

    pytest runs bare, as a download's README runs it: no plugin of the environment's (an installed plugin can
    change how tests run, and importing hypothesis's alone took 1.3 s of a 1.7 s run of one tiny test) and none
    of the project's own `addopts` (those are for its own suite: `--dist` needs xdist)."""
    if not paper.claims:
        return {}
    report = out_dir / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           f"--junitxml={report}", *[c.test for c in paper.claims]]
    env = {**limited_env(root, out_dir), KNOBS_ENV: json.dumps(knobs or {}, sort_keys=True),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = run_limited(cmd, root, env, limits, writable=out_dir, project=root)
    statuses = claim_statuses(paper, report, result.stopped)
    report.unlink(missing_ok=True)
    return statuses


def claim_statuses(paper: Paper, report: Path, not_run: str = "") -> dict[str, ClaimStatus]:
    """Each claim's outcome in pytest's JUnit report `report` (a run whose rootdir is the project's root); a claim
    whose test is not in it (or no report) is "not_run" with the message `not_run`."""
    statuses = {c.test: ClaimStatus("not_run", not_run) for c in paper.claims}
    try:
        cases = list(ET.parse(report).getroot().iter("testcase")) if report.exists() else []
    except ET.ParseError:  # cut short by a limit
        cases = []
    for case in cases:
        node = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        if node in statuses:
            statuses[node] = ClaimStatus("failed", (failure.get("message") or "")[:300]) \
                if failure is not None else ClaimStatus("passed")
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


def execute(root: Path, paper: Paper, out_dir: Path, digest: str, limits: DemoLimits,
            echo: Callable[[str], None], knobs: dict | None = None) -> DemoRun:
    """Run the demo (with `knobs`, each already checked, as its options) and the claims' tests under `limits`
    into `out_dir`, which then holds the figures, demo.json and run.json."""
    options = {k.name: k.option for k in demo_knobs(root, paper)}
    knob_args = tuple(str(a) for name, value in sorted((knobs or {}).items()) for a in (options[name], value))
    start = time.perf_counter()
    # The demo runs in its output folder (relative writes land there) with the project on its path.
    result = run_limited(demo_command(paper, out_dir, knob_args), out_dir, limited_env(root, out_dir), limits,
                         echo, writable=out_dir, project=root)
    seconds = time.perf_counter() - start
    if result.ok and inputs_hash(root, paper) != digest:
        result = replace(result, stopped="changed files of its implementation while it ran (a demo writes "
                                         "only under its --out folder)")
    result_file = out_dir / "demo.json"
    ok = result.ok and result_file.exists()
    if result.ok and not ok:
        result = replace(result, stopped="wrote no demo.json (does it end with `main(run)`?)")
    data = _demo_json(result_file) if ok else {}
    if ok and data is None:
        ok, data, result = False, {}, replace(result, stopped="wrote a demo.json that is not valid")
    echo(f"checking {len(paper.claims)} claims with pytest")
    claims = run_claims(root, paper, out_dir, limits, knobs)
    run = finished_run(paper, digest, data, seconds, claims, ok, "" if ok else failure_text(result), knobs)
    save_run(run, out_dir)
    return run


def finished_run(paper: Paper, digest: str, demo: dict, seconds: float, claims: dict[str, ClaimStatus],
                 ok: bool = True, error_tail: str = "", knobs: dict | None = None) -> DemoRun:
    """The record of one run: the demo's `demo.json` data, its wall time and its claims' outcomes, tested today."""
    return DemoRun(paper.id, digest, ok, round(seconds, 2),
                   [DemoFigure(**f) for f in demo.get("figures", [])],
                   [DemoMetric(**m) for m in demo.get("metrics", [])], claims,
                   tested_at=time.strftime("%Y-%m-%d", time.gmtime()),
                   error_tail=error_tail, knobs=demo.get("knobs", knobs or {}))


def save_run(run: DemoRun, out_dir: Path) -> None:
    """Write `run` as `out_dir/run.json`, which makes `out_dir` a cached run (`_load_cached`)."""
    meta = asdict(run)
    for key in ("cached", "out_dir", "sources", "knob_specs"):
        meta.pop(key)
    (out_dir / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    run.out_dir = out_dir


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
        run = execute(root, paper, staging, digest, limits, lambda line: echo(f"  {paper.id}: {line}"))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        run.out_dir = folder
    run.knob_specs = demo_knobs(root, paper)
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


def impl_requirements(root: Path, paper: Paper) -> list[str]:
    """requirements.txt lines: the third-party modules the implementation and the shared helpers import."""
    imported = {"pytest"}  # the claims' tests run with it
    for path in impl_sources(root, paper) + [root / s for s in SHARED_SOURCES]:
        if path.suffix == ".py":
            imported |= set(IMPORT_LINE.findall(path.read_text(encoding="utf-8")))
    return sorted(REQUIREMENTS[m] for m in imported if m in REQUIREMENTS)


def download_readme(root: Path, paper: Paper) -> str:
    """The README at the top of the download: commands that work from the unzipped folder, nothing else needed."""
    name = impl_name(paper)
    knobs = demo_knobs(root, paper)
    lines = [f"# {paper.title.en}: reference implementation", "",
             f"A small NumPy implementation of the paper's mechanism, its demo and the tests of its claims, "
             f"from Paper Digest. `reference_impls/{name}/README.md` says what it shows and where it departs "
             f"from the paper.", "",
             "From this folder (Python 3.11 or newer):", "", "```bash",
             "python -m pip install -r requirements.txt",
             f"python -m reference_impls.{name}.demo --out out      # figures (SVG) and demo.json in ./out",
             f"python -m pytest -q reference_impls/{name}             # the claims' tests", "```", ""]
    if knobs:
        lines += ["The demo's knobs, each an option of the demo command (the defaults give the published figures):",
                  ""]
        lines += [f"- `{k.option}` {k.label_en}: default {k.default}, from {k.min} to {k.max}" for k in knobs]
        first = knobs[0]
        value = first.default + 1 if first.default + 1 <= first.max else first.min
        lines += ["", f"For instance `{first.option} {value}` with another `--out` folder. The claims' tests read "
                  f"the same values from `DEMO_KNOBS` (JSON, unset: the defaults), e.g. "
                  f"`DEMO_KNOBS='{{\"{first.name}\": {value}}}'` before the pytest command.", ""]
    lines += [f"`{paper.id}.ipynb` runs the same demo step by step in Jupyter, with the figures inline and the "
              f"claims' tests in its last cell (`python -m pip install notebook`, then `jupyter notebook "
              f"{paper.id}.ipynb`).", ""]
    return "\n".join(lines)


def _zip_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed timestamps: same sources, same bytes
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def source_zip(root: Path, paper: Paper, extra: dict[str, bytes] | None = None) -> bytes:
    """The download: one folder `<name>/` with README.md, requirements.txt, the implementation, the shared demo
    helpers and `extra` files (the notebook). It needs nothing from the repository: see README.md inside."""
    buffer, top = io.BytesIO(), impl_name(paper)
    files = {"README.md": download_readme(root, paper).encode(),
             "requirements.txt": "".join(f"{r}\n" for r in impl_requirements(root, paper)).encode(),
             **(extra or {})}
    files |= {p.relative_to(root).as_posix(): p.read_bytes()
              for p in [root / s for s in SHARED_SOURCES] + impl_sources(root, paper)}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            _zip_entry(archive, f"{top}/{name}", data)
    return buffer.getvalue()
