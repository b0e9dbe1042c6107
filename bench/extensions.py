"""What each Markdown extension costs per generated page: the Markdown floor taken apart (issue #10).

    python bench/extensions.py              # 1,000 records; pages of each kind, both languages
    python bench/extensions.py -n 200 --sample 50

Converts the generated pages (bench/corpus.py's clones of the real records, rendered as `digest build` renders
them, and as it converts them: front matter off, finished HTML blocks as stand-ins, digest/pagecache.py) with
Python-Markdown and mkdocs.yml's extensions, one core, then again with each extension left out, and
prints one table: milliseconds per page for each kind of page (paper, tag, listing, other) with every extension,
and how much less each takes without one extension (its cost). Leaving an extension out changes what the page
becomes (a `<div markdown>` block is no longer parsed without md_in_html), so a cost here is what that extension's
work adds on these pages, not a configuration to build with. The theme's part (Material's templates, about 3.5 ms
a page) is outside Markdown: `bench/build.py`'s `--clean` row, whose pages are all converted already, holds it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import markdown
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from corpus import make_project  # noqa: E402

from mkdocs.utils.meta import get_data  # noqa: E402

from digest.build import write_docs  # noqa: E402
from digest.load import load_project  # noqa: E402
from digest.pagecache import cut_finished_html  # noqa: E402


def mkdocs_extensions() -> tuple[list[str], dict]:
    """mkdocs.yml's Markdown extensions and their settings, as MkDocs passes them to Python-Markdown."""
    names, configs = [], {}
    for item in yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["markdown_extensions"]:
        name, config = (next(iter(item.items())) if isinstance(item, dict) else (item, {}))
        names.append(name)
        configs[name] = config or {}
    return names, configs


def kind(rel: str) -> str:
    parts = rel.split("/")
    if parts[0] == "papers" and len(parts) == 2 and parts[1] != "index.md":
        return "paper"
    if parts[0] == "tags" and parts[1] != "index.md":
        return "tag"
    if parts[0] in ("papers", "queue"):
        return "listing"
    return "other"


def seconds_per_page(pages: list[str], names: list[str], configs: dict, repeat: int = 2) -> float:
    """The best of `repeat` passes over `pages` with one Markdown instance reset between pages (as the build
    converts): seconds per page."""
    md = markdown.Markdown(extensions=names, extension_configs={n: configs[n] for n in names})
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for text in pages:
            md.reset().convert(text)
        best = min(best, time.perf_counter() - start)
    return best / len(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of records (clones of the twelve real ones)")
    parser.add_argument("--sample", type=int, default=60, help="paper pages per language (every other page is used)")
    args = parser.parse_args()
    names, configs = mkdocs_extensions()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, args.n)
        project, _ = load_project(root)
        docs = root / "docs"
        write_docs(project, {}, root, docs)
        by_kind: dict[str, list[str]] = {}
        for lang in ("en", "zh"):
            papers = 0
            for path in sorted((docs / lang).rglob("*.md")):
                rel = path.relative_to(docs / lang).as_posix()
                if kind(rel) == "paper":
                    papers += 1
                    if papers > args.sample:
                        continue
                # As the build converts it: front matter off (MkDocs reads it), the generator's finished HTML
                # blocks replaced by stand-ins (digest/pagecache.py passes them around Python-Markdown).
                text = get_data(path.read_text(encoding="utf-8"))[0]
                by_kind.setdefault(kind(rel), []).append(cut_finished_html(text, "pdfinishedbenchx")[0])
    print(f"{args.n} records; pages converted: " + ", ".join(f"{k} {len(v)}" for k, v in by_kind.items()),
          file=sys.stderr)
    kinds = ["paper", "tag", "listing", "other"]
    full = {k: seconds_per_page(by_kind[k], names, configs) for k in kinds}
    print(f"  {'every extension':24} " + "  ".join(f"{k} {full[k] * 1e3:7.2f} ms" for k in kinds), file=sys.stderr)
    rows = []
    for left_out in names:
        rest = [n for n in names if n != left_out]
        try:
            cost = {k: full[k] - seconds_per_page(by_kind[k], rest, configs) for k in kinds}
        except Exception as exc:  # noqa: BLE001 - an extension another one needs: say so in the table
            rows.append((left_out, None, f"{type(exc).__name__}: {exc}"))
            continue
        rows.append((left_out, cost, ""))
        print(f"  without {left_out:16} " + "  ".join(f"{k} {cost[k] * 1e3:+7.2f} ms" for k in kinds),
              file=sys.stderr)
    print("| ms per page | " + " | ".join(kinds) + " |\n|---|" + "---|" * len(kinds))
    print("| every extension | " + " | ".join(f"{full[k] * 1e3:.2f}" for k in kinds) + " |")
    for name, cost, note in rows:
        cells = [f"{cost[k] * 1e3:.2f} ({cost[k] / full[k]:.0%})" for k in kinds] if cost else [note] * len(kinds)
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
