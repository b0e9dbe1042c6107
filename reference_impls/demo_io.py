"""What every demo shares: deterministic SVG figures, progress lines and the ``demo.json`` it leaves behind.

A demo module defines ``run(out_dir: Path) -> DemoResult`` and ends with ``if __name__ == "__main__": main(run)``.
``digest demo <id>`` runs it as ``python -m reference_impls.<name>.demo --out DIR`` and reads ``DIR/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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


def write_result(result: DemoResult, out_dir: Path) -> Path:
    """Write ``demo.json`` (sorted keys, stable floats) next to the figures."""
    data = _clean({"metrics": [asdict(m) for m in result.metrics], "figures": [asdict(f) for f in result.figures]})
    path = Path(out_dir) / "demo.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(run: Callable[[Path], DemoResult]) -> None:
    """Command-line entry of a demo: ``--out DIR`` (created if missing)."""
    parser = argparse.ArgumentParser(description=run.__module__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures and demo.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_result(run(args.out), args.out)
