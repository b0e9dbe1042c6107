"""Both site engines on the same records: `digest build --engine mkdocs` and `--engine zensical`, side by side.

    python bench/engines.py            # 1,000 records (bench/corpus.py: clones of the twelve real ones)
    python bench/engines.py -n 200

Each engine builds the same project in its own copy; the check, demo and render stages are the same code, so the
columns differ in the site stages (English, Chinese). Prints seconds per stage, the total, and the site's size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.corpus import make_project  # noqa: E402
from digest.build import ENGINES, build_site  # noqa: E402


def site_size(site: Path) -> tuple[int, float]:
    files = [p for p in site.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of records (default 1,000)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="pd-engines-") as tmp:
        for engine in ENGINES:
            root = Path(tmp) / engine
            root.mkdir()
            make_project(root, args.n)
            start = time.perf_counter()
            report = build_site(root, echo=lambda line: None, engine=engine)
            wall = time.perf_counter() - start
            results[engine] = (report, wall, site_size(report.site))
            print(f"{engine}: built {report.pages} pages in {wall:.1f} s", file=sys.stderr)
    stages = list(next(iter(results.values()))[0].seconds)
    print(f"{args.n} records, seconds per stage")
    print(f"{'stage':10}" + "".join(f"{engine:>12}" for engine in results))
    for stage in stages:
        print(f"{stage:10}" + "".join(f"{r[0].seconds.get(stage, 0):12.1f}" for r in results.values()))
    print(f"{'total':10}" + "".join(f"{r[1]:12.1f}" for r in results.values()))
    print(f"{'files':10}" + "".join(f"{r[2][0]:12d}" for r in results.values()))
    print(f"{'MB':10}" + "".join(f"{r[2][1]:12.1f}" for r in results.values()))


if __name__ == "__main__":
    main()
