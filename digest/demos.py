"""Demos stage: run each reference implementation's demo and claim tests, cached by a hash of their inputs.

A demo runs as `python -m reference_impls.<name>.demo --out DIR` in a subprocess with a time limit; its
progress lines are echoed live. The claims' tests run once per hash through pytest (JUnit XML gives each
outcome). Outputs live in `.cache/demos/<id>/` and are reused while the hash is unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy

from digest.schema import Paper

PROTOCOL = "2"  # bump when the way demos are run or stored changes
CACHE = Path(".cache/demos")
SOURCE_SUFFIXES = (".py", ".md")
SHARED_SOURCES = ("reference_impls/__init__.py", "reference_impls/demo_io.py")
# What a downloaded implementation installs: each third-party module an implementation may import, with the
# version range the project is tested in (pyproject.toml's lower bounds, below the next major version).
REQUIREMENTS = {"numpy": "numpy>=1.26,<3", "matplotlib": "matplotlib>=3.8,<4", "pytest": "pytest>=8,<10"}


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
    h = hashlib.sha256(f"{PROTOCOL}|{sys.version_info[:2]}|{numpy.__version__}".encode())
    for path in impl_sources(root, paper) + [root / s for s in SHARED_SOURCES]:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps([c.test for c in paper.claims]).encode())
    return h.hexdigest()[:16]


def _run(cmd: list[str], cwd: Path, timeout: float, echo: Callable[[str], None]) -> tuple[int | None, str]:
    """Run `cmd`, echoing its stderr lines live; returns (exit code or None on time-out, stderr text)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**_clean_env(), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
                                 "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    lines: list[str] = []

    def pump():
        for line in proc.stderr:
            lines.append(line)
            echo(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(1)
        return None, "".join(lines)
    reader.join(5)
    proc.stdout.read()
    return proc.returncode, "".join(lines)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_claims(root: Path, paper: Paper, out_dir: Path, timeout: float) -> dict[str, ClaimStatus]:
    """Run the claims' tests once; each node id gets passed or failed from pytest's JUnit report."""
    if not paper.claims:
        return {}
    report = out_dir / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
           *[c.test for c in paper.claims]]
    code, _ = _run(cmd, root, timeout, lambda line: None)
    statuses = {c.test: ClaimStatus("not_run", "time limit" if code is None else "") for c in paper.claims}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
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


def execute(root: Path, paper: Paper, out_dir: Path, digest: str, timeout: float,
            echo: Callable[[str], None], knobs: dict | None = None) -> DemoRun:
    """Run the demo (with `knobs` given as options, each already checked) and the claims' tests into `out_dir`,
    which then holds the figures, demo.json and run.json."""
    knobs = knobs or {}
    options = {k.name: k.option for k in demo_knobs(root, paper)}
    args = [str(a) for name, value in sorted(knobs.items()) for a in (options[name], value)]
    start = time.perf_counter()
    code, stderr = _run([sys.executable, "-m", f"reference_impls.{impl_name(paper)}.demo", "--out", str(out_dir),
                         *args], root, timeout, echo)
    seconds = time.perf_counter() - start
    result_file = out_dir / "demo.json"
    ok = code == 0 and result_file.exists()
    error = "" if ok else (f"timed out after {timeout:.0f} s\n" if code is None else "") + _tail(stderr)
    data = json.loads(result_file.read_text(encoding="utf-8")) if ok else {}
    echo(f"checking {len(paper.claims)} claims with pytest")
    claims = run_claims(root, paper, out_dir, timeout)
    run = DemoRun(paper.id, digest, ok, round(seconds, 2),
                  [DemoFigure(**f) for f in data.get("figures", [])],
                  [DemoMetric(**m) for m in data.get("metrics", [])], claims,
                  tested_at=time.strftime("%Y-%m-%d", time.gmtime()), error_tail=error,
                  knobs=data.get("knobs", knobs))
    meta = asdict(run)
    for key in ("cached", "out_dir", "sources", "knob_specs"):
        meta.pop(key)
    (out_dir / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    run.out_dir = out_dir
    return run


def run_demo(root: Path, paper: Paper, timeout: float = 120, force: bool = False,
             echo: Callable[[str], None] = print) -> DemoRun:
    """The demo's outputs for the current sources: from the cache when the hash matches, else a fresh run."""
    digest = inputs_hash(root, paper)
    folder = root / CACHE / paper.id
    run = None if force else _load_cached(folder, digest)
    if run is None:
        staging = root / CACHE / f".{paper.id}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        run = execute(root, paper, staging, digest, timeout, lambda line: echo(f"  {paper.id}: {line}"))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        run.out_dir = folder
    run.knob_specs = demo_knobs(root, paper)
    run.sources = [SourceFile(p.relative_to(root / paper.impl.path).as_posix(), p.read_text(encoding="utf-8"))
                   for p in impl_sources(root, paper)]
    return run


def impl_requirements(root: Path, paper: Paper) -> list[str]:
    """requirements.txt lines: the third-party modules the implementation and the shared helpers import."""
    imported = set()
    for path in impl_sources(root, paper) + [root / s for s in SHARED_SOURCES]:
        if path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    imported.add("pytest")  # the claims' tests run with it
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
        lines += ["The demo's knobs (defaults give the published figures):", ""]
        lines += [f"- `{k.option}` {k.label_en}: default {k.default}, from {k.min} to {k.max}" for k in knobs]
        example = " ".join(f"{k.option} {k.default + 1 if k.default + 1 <= k.max else k.min}" for k in knobs[:1])
        lines += ["", "```bash", f"python -m reference_impls.{name}.demo --out out-2 {example}", "```", ""]
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
