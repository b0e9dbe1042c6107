"""Measure the search index a reader downloads, per language: raw and gzipped bytes, bytes per paper.

    python bench/search.py            # 1,000 papers (bench/corpus.py clones of the twelve real records)
    python bench/search.py -n 10000

The clones repeat twelve texts, and gzip finds the repeats: the gzipped size of the corpus index is lower than a
real archive's would be. So the table also estimates an archive of N distinct papers from the twelve real
records: the index of all twelve plus, for each further paper, the mean cost of adding one real record to the
other eleven (gzipped). Vocabulary is shared more among 1,000 papers than among twelve, so this errs high.
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
from digest.load import Project, load_project  # noqa: E402
from digest.search import build_index  # noqa: E402

BUDGET = 1_000_000  # bytes gzipped per language (issue 10)


def index_bytes(project: Project, lang: str, templates: Path) -> tuple[int, int]:
    """(raw bytes, gzipped bytes) of both files a reader downloads for `lang`."""
    raw = gz = 0
    for data in build_index(project, lang, templates):
        blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        raw, gz = raw + len(blob), gz + len(gzip.compress(blob, 9, mtime=0))
    return raw, gz


def distinct_estimate(lang: str, n: int) -> tuple[float, float]:
    """(gzipped bytes per further paper, estimated gzipped bytes for n distinct papers) from the real records."""
    project, _ = load_project(REPO)
    papers = dict(project.papers)
    _, whole = index_bytes(project, lang, REPO / "templates")
    added = []
    for paper_id in sorted(papers):
        project.papers = {k: v for k, v in papers.items() if k != paper_id}
        added.append(whole - index_bytes(project, lang, REPO / "templates")[1])
    project.papers = papers
    per_paper = sum(added) / len(added)
    return per_paper, whole + (n - len(papers)) * per_paper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of papers (default 1000)")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        make_project(Path(tmp), n)
        project, _ = load_project(Path(tmp))
        print(f"search index (search_index.json + terms.json), {n} papers; budget {BUDGET:,} B gzipped per language")
        print(f"{'lang':4} {'raw B':>11} {'gzip B':>9} {'raw B/paper':>11} {'gzip B/paper':>12} {'index s':>8} | "
              f"{'distinct papers: gzip B/paper':>29} {f'gzip B at {n}':>14} {'within':>6}")
        for lang in ("en", "zh"):
            start = time.process_time()
            raw, gz = index_bytes(project, lang, Path(tmp) / "templates")
            seconds = time.process_time() - start
            per_paper, estimate = distinct_estimate(lang, n)
            print(f"{lang:4} {raw:>11,} {gz:>9,} {raw / n:>11,.0f} {gz / n:>12,.0f} {seconds:>8.1f} | "
                  f"{per_paper:>29,.0f} {estimate:>14,.0f} {'yes' if estimate <= BUDGET else 'NO':>6}")
        print("index s: CPU seconds to build one language's index (jieba's dictionary load included in the first)")


if __name__ == "__main__":
    main()
