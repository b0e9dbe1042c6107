"""What every demo shares: deterministic SVG figures, progress lines and the ``demo.json`` it leaves behind.

A demo module defines ``run(out_dir: Path) -> DemoResult`` and ends with ``if __name__ == "__main__": main(run)``.
``digest demo <id>`` runs it as ``python -m reference_impls.<name>.demo --out DIR`` and reads ``DIR/demo.json``.

Knobs: a demo may declare ``KNOBS = {"SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"}}``,
each key a module-level constant of the demo (an int or a float literal, its default). ``--seed 3`` sets that
constant before ``run`` (so every function of the demo reads it), and ``demo.json`` records the values used.
A claim's test that depends on a knob reads it with ``claim_knobs("reference_impls.<name>.demo").SEED`` inside
the test: the demo's default, or the value of the run whose claims are tested (``$DEMO_KNOBS``, JSON, set by
``digest`` for a run with other knobs; by hand: ``DEMO_KNOBS='{"N_TRIALS": 1}' python -m pytest ...``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KNOBS_ENV = "DEMO_KNOBS"  # the knob values of the run whose claims are tested, as JSON

# Byte-identical SVG: fixed ids salt, no date, text as paths (no font lookup differences in the browser).
plt.rcParams.update({"svg.hashsalt": "paper-digest", "svg.fonttype": "path", "font.family": "DejaVu Sans"})


@dataclass
class Metric:
    """One number the page shows: a key, its value, a unit and a label in both languages."""

    key: str
    value: float | int | str
    label_en: str
    label_zh: str
    unit: str = ""


@dataclass
class Figure:
    """One SVG the page embeds; ``function``, ``seed`` and ``params`` say exactly what drew it."""

    file: str
    caption_en: str
    caption_zh: str
    function: str
    seed: int
    params: dict = field(default_factory=dict)


@dataclass
class DemoResult:
    metrics: list[Metric]
    figures: list[Figure]


def save_svg(fig, out_dir: Path, name: str) -> str:
    """Write ``fig`` as ``out_dir/name`` with deterministic bytes and close it; returns the file name."""
    fig.savefig(Path(out_dir) / name, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return name


def progress(step: int, total: int, message: str) -> None:
    """One progress line on stderr, e.g. ``[2/4] training``; ``digest demo`` echoes it live."""
    print(f"[{step}/{total}] {message}", file=sys.stderr, flush=True)


def _clean(value):
    """Plain JSON values (NumPy scalars become Python numbers, floats keep 6 significant digits)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_result(result: DemoResult, out_dir: Path, knobs: dict | None = None) -> Path:
    """Write ``demo.json`` (sorted keys, stable floats) next to the figures, with the knob values used."""
    data = _clean({"metrics": [asdict(m) for m in result.metrics], "figures": [asdict(f) for f in result.figures],
                   "knobs": knobs or {}})
    path = Path(out_dir) / "demo.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def knob_option(name: str) -> str:
    """The command-line option of a knob: ``N_TRAIN`` -> ``--n-train``."""
    return "--" + name.lower().replace("_", "-")


def main(run: Callable[[Path], DemoResult], argv: list[str] | None = None) -> None:
    """Command-line entry of a demo: ``--out DIR`` (created if missing) and one option per knob."""
    module = sys.modules[run.__module__]
    knobs = getattr(module, "KNOBS", {})
    parser = argparse.ArgumentParser(description=run.__module__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures and demo.json")
    for name, spec in knobs.items():
        default = getattr(module, name)
        parser.add_argument(knob_option(name), dest=name, type=type(default), default=default,
                            help=f"{spec['en']} ({spec['min']} to {spec['max']}, default {default})")
    args = parser.parse_args(argv)
    for name, spec in knobs.items():
        value = getattr(args, name)
        if not spec["min"] <= value <= spec["max"]:
            parser.error(f"{knob_option(name)} {value}: expected a value from {spec['min']} to {spec['max']}")
        setattr(module, name, value)
    args.out.mkdir(parents=True, exist_ok=True)
    write_result(run(args.out), args.out, {name: getattr(module, name) for name in knobs})


def claim_knobs(demo: str) -> SimpleNamespace:
    """The knobs a claim's test runs with: the demo's defaults, replaced by those in ``$DEMO_KNOBS``.

    ``demo`` is the demo's module name. Names in ``$DEMO_KNOBS`` that this demo does not declare are ignored (one
    value may serve several demos); a value out of its range stops the test with what was expected. Where the
    demo module is not on the path (the notebook runs the demo in its own cells), ``$DEMO_KNOBS`` must name every
    knob: the notebook sets it from its knob cell."""
    given = json.loads(os.environ.get(KNOBS_ENV) or "{}")
    try:
        module = importlib.import_module(demo)
    except ModuleNotFoundError as missing:
        if missing.name != demo:  # the demo is there but something it imports is not
            raise
        return SimpleNamespace(**given)
    specs = getattr(module, "KNOBS", {})
    values = {name: getattr(module, name) for name in specs}
    for name, value in given.items():
        if name not in specs:
            continue
        kind = type(values[name])
        if not isinstance(value, (int, float)) or kind is int and value != int(value) or \
                not specs[name]["min"] <= value <= specs[name]["max"]:
            raise ValueError(f"{KNOBS_ENV}: {name}={value!r}, expected {'an integer' if kind is int else 'a number'}"
                             f" from {specs[name]['min']} to {specs[name]['max']}")
        values[name] = kind(value)
    return SimpleNamespace(**values)
