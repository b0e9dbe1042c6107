"""A benchmark corpus at a reading group's size: N records cloned from the twelve real ones.

Each clone keeps its source record's full text (so its page is as long as a real page) and gets a new id, title,
citation key and arXiv number; claims and the implementation link are dropped (a clone has no demo of its own).
Every benchmark under `bench/` builds its records with `make_project`, so their figures describe the same site.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
SITE_FILES = ("mkdocs.yml", "templates", "overrides", "pages")


def real_records() -> list[dict]:
    """The twelve real records, parsed, in file-name order."""
    return [yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted((REPO / "content" / "papers").glob("*.yaml"))]


def clone(record: dict, i: int) -> dict:
    """Clone number `i` of `record`: same text, new identity, no claims or implementation."""
    new = dict(record)
    new["id"] = f"{record['id']}-{i:05d}"
    new["title"] = {"en": f"{record['title']['en']} (clone {i})", "zh": f"{record['title']['zh']}（副本 {i}）"}
    if "arxiv" in new:
        new["arxiv"] = f"{9000 + i // 100000:04d}.{i % 100000:05d}"
    new["citation"] = {**record["citation"], "key": f"{record['citation']['key']}c{i}"}
    # The translation stamps go too: they name the claims and the implementation's texts, which a clone lacks.
    for field in ("claims", "impl", "translations"):
        new.pop(field, None)
    return new


def make_project(root: Path, n: int) -> list[Path]:
    """Write a buildable project with `n` cloned records under `root`; returns the record files."""
    for name in SITE_FILES:
        src = REPO / name
        (shutil.copytree(src, root / name) if src.is_dir() else shutil.copy2(src, root / name))
    (root / "content" / "papers").mkdir(parents=True)
    for name in ("tags.yaml", "glossary.yaml"):
        shutil.copy2(REPO / "content" / name, root / "content" / name)
    records, files = real_records(), []
    for i in range(n):
        record = clone(records[i % len(records)], i)
        path = root / "content" / "papers" / f"{record['id']}.yaml"
        write_record(path, record)
        files.append(path)
    return files


def write_record(path: Path, record: dict) -> None:
    path.write_text("# yaml-language-server: $schema=../../schema/paper.schema.json\n"
                    + yaml.dump(record, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=110),
                    encoding="utf-8")


def edit_record(path: Path, field: str, prefix: str, lang: str = "en") -> None:
    """Put `prefix` before the `lang` text of `field` (what a benchmark's "one edit" changes)."""
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    record[field] = {**record[field], lang: prefix + record[field][lang]}
    write_record(path, record)


if __name__ == "__main__":
    import sys
    import tempfile
    import time

    sys.path.insert(0, str(REPO))
    from digest.build import check

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        make_project(Path(tmp), n)
        print(f"wrote {n} records in {time.perf_counter() - t:.2f} s")
        project, warnings = check(Path(tmp))
        print(f"checked: {len(project.papers)} papers, {len(warnings)} warnings")
