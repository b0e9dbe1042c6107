"""Benchmark the pipeline on N synthetic records: time per stage, site size, largest page.

    python bench/build.py            # 1,000 records
    python bench/build.py -n 200
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.build import mkdocs_build, write_docs, zh_config  # noqa: E402
from digest.load import load_project  # noqa: E402
from digest.validate import validate  # noqa: E402

RECORD = """# yaml-language-server: $schema=../../schema/paper.schema.json
id: {id}
kind: paper
title: {{en: "Synthetic paper {i}: sparse attention for long video", zh: "合成论文 {i}:面向长视频的稀疏注意力"}}
authors: [Author A{i}, Author B{i}]
published: {date}
venue: arXiv
arxiv: "24{month:02d}.{i:05d}"
tags: [{tags}]
tldr: {{en: "Record {i} of the benchmark.", zh: "基准测试的第 {i} 条记录。"}}
summary:
  en: |
    {en}
  zh: |
    {zh}
contributions: {{en: [One, Two, Three], zh: [一, 二, 三]}}
method:
  en: |
    $$y_{{{i}}} = \\mathrm{{softmax}}(QK^T/\\sqrt{{d}})V$$
  zh: |
    $$y_{{{i}}} = \\mathrm{{softmax}}(QK^T/\\sqrt{{d}})V$$
results:
  - {{benchmark: Bench{i}, metric: accuracy, value: {value}, unit: "%"}}
citation: {{type: misc, key: synthetic{i}}}
"""


def make_records(root: Path, n: int, tags: list[str]) -> None:
    en = " ".join(["Diffusion transformers attend over spatio-temporal tokens with sparse attention."] * 20)
    zh = "扩散 Transformer 在时空词元上使用稀疏注意力。" * 20
    folder = root / "content" / "papers"
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"synthetic-{i:05d}.yaml").write_text(RECORD.format(
            id=f"synthetic-{i:05d}", i=i, date=f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}", month=i % 12 + 1,
            tags=", ".join(tags[j % len(tags)] for j in range(i, i + 3)), en=en, zh=zh,
            value=round(50 + (i * 7) % 50, 1)), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of synthetic records")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("templates", "overrides", "pages"):
            shutil.copytree(REPO / name, root / name)
        shutil.copy2(REPO / "mkdocs.yml", root / "mkdocs.yml")
        (root / "content").mkdir()
        for name in ("tags.yaml", "glossary.yaml"):
            shutil.copy2(REPO / "content" / name, root / "content" / name)
        import yaml

        tags = sorted(yaml.safe_load((REPO / "content" / "tags.yaml").read_text(encoding="utf-8")))
        make_records(root, args.n, tags)
        times = {}
        t = time.perf_counter()
        project, problems = load_project(root)
        times["load"] = time.perf_counter() - t
        t = time.perf_counter()
        problems += validate(project)
        times["validate"] = time.perf_counter() - t
        assert not [p for p in problems if p.severity == "error"], problems[:3]
        t = time.perf_counter()
        docs = root / "build" / "docs"
        pages = write_docs(project, {}, root, docs)
        times["render+write"] = time.perf_counter() - t
        import jieba
        import logging

        jieba.setLogLevel(logging.WARNING)
        jieba.load_userdict(str(docs / "jieba_user_dict.txt"))
        site = root / "site"
        t = time.perf_counter()
        mkdocs_build(root / "mkdocs.yml", docs / "en", site)
        times["site build (en)"] = time.perf_counter() - t
        t = time.perf_counter()
        mkdocs_build(zh_config(root, root / "build"), docs / "zh", site / "zh")
        times["site build (zh)"] = time.perf_counter() - t
        htmls = [p for p in site.rglob("*.html")]
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        largest = max(htmls, key=lambda p: p.stat().st_size)
        paper_pages = [p for p in htmls if "/papers/synthetic-" in p.as_posix()]
        print(f"records: {args.n}; pages per language: {pages}")
        for stage, seconds in times.items():
            print(f"  {stage:18} {seconds:7.2f} s")
        print(f"  {'total':18} {sum(times.values()):7.2f} s")
        print(f"site size: {size / 1e6:.1f} MB in {len(htmls)} HTML pages")
        print(f"largest page: {largest.relative_to(site)} ({largest.stat().st_size / 1e3:.0f} KB)")
        print(f"paper page, median: {sorted(p.stat().st_size for p in paper_pages)[len(paper_pages) // 2] / 1e3:.0f} KB")
        index = site / "search" / "search_index.json"
        print(f"search index: en {index.stat().st_size / 1e6:.1f} MB, "
              f"zh {(site / 'zh' / 'search' / 'search_index.json').stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
