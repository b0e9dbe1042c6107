"""Measure the search index a reader downloads, per language: raw and gzipped bytes, bytes per paper.

    python bench/search.py            # 1,000 papers (bench/corpus.py clones of the twelve real records)
    python bench/search.py -n 10000

The clones repeat twelve texts, and gzip finds the repeats: the gzipped size of the corpus index is lower than a
real archive's would be. So the table also prints the index of the twelve real records scaled to N papers (its
gzipped bytes per paper x N), the figure to hold against the 1 MB budget.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.corpus import make_project  # noqa: E402
from digest.load import load_project  # noqa: E402
from digest.search import build_index  # noqa: E402

BUDGET = 1_000_000  # bytes gzipped per language (issue 10)


def index_bytes(root: Path, lang: str) -> tuple[int, int, int]:
    """(raw bytes, gzipped bytes, papers) of both files a reader downloads for `lang`."""
    project, _ = load_project(root)
    raw = gz = 0
    for data in build_index(project, lang, root / "templates"):
        blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        raw, gz = raw + len(blob), gz + len(gzip.compress(blob, 9, mtime=0))
    return raw, gz, len(project.papers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of papers (default 1000)")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        make_project(Path(tmp), n)
        print(f"search index, {n} papers (clones of the twelve real records); budget {BUDGET:,} B gzipped per language")
        print(f"{'lang':4} {'raw B':>12} {'gzip B':>10} {'raw B/paper':>12} {'gzip B/paper':>13} "
              f"{'real-text gzip B/paper':>23} {f'scaled to {n}':>14} {'within':>7} {'build s':>8}")
        for lang in ("en", "zh"):
            start = time.perf_counter()
            raw, gz, papers = index_bytes(Path(tmp), lang)
            seconds = time.perf_counter() - start
            real_raw, real_gz, real_papers = index_bytes(REPO, lang)
            scaled = real_gz / real_papers * n
            print(f"{lang:4} {raw:>12,} {gz:>10,} {raw / papers:>12,.0f} {gz / papers:>13,.0f} "
                  f"{real_gz / real_papers:>23,.0f} {scaled:>14,.0f} {'yes' if scaled <= BUDGET else 'NO':>7} "
                  f"{seconds:>8.1f}")


if __name__ == "__main__":
    main()
