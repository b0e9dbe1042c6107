"""What other engines would save on a first build's two largest costs, measured on the twelve real records.

    pip install markdown-it-pyrs      # a candidate the build does not use (no wheels for Python 3.13 and later)
    python bench/alternatives.py

A first build from nothing spends most of its time converting the records' Markdown (Python-Markdown, pure
Python) and cutting their Chinese text for search (the generator's rewrite of jieba's search mode, pure Python):
`bench/build.py`'s floor rows build with each stage's output kept to show what is left without them. This script
measures the candidates that would take their place, on every Markdown field and every Chinese text of the twelve
real records as the build prepares them (`safe_markdown`, `search.normalize`):

- Markdown: Python-Markdown with mkdocs.yml's extensions against two CommonMark engines with GitHub's tables,
  cmark-gfm (C, `cmarkgfm`, what the build now uses) and markdown-it.rs (Rust, `markdown-it-pyrs`), math kept out
  of their way and put back as arithmatex writes it. Prints milliseconds per record (both languages) and how many fields give the same
  HTML (compared as a tree: tags, attributes, text with runs of white space as one space).
- Chinese segmentation: jieba's own search-mode cut (Python, HMM off) against jieba-rs (`rjieba`, what the build
  now uses) with the same added words. Prints milliseconds per record and how many texts are cut into the same
  words.

An engine that is not installed is skipped with a line that says so.
"""

from __future__ import annotations

import html
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import markdown  # noqa: E402
from extensions import mkdocs_extensions  # noqa: E402

from digest import search  # noqa: E402
from digest.load import load_project  # noqa: E402
from digest.markdown_safety import safe_markdown  # noqa: E402
from digest.schema import Text, TextList  # noqa: E402
from tests.test_render import Tree  # noqa: E402 - the test's comparison: elements, attributes, text

REPEAT = 20  # conversions of every field per engine, for stable times


def markdown_fields(project) -> list[str]:
    """Every Markdown field of every paper, in both languages, as the generator hands it to the converter."""
    texts = []
    for paper in project.papers.values():
        values = [paper.tldr, paper.summary, paper.method, paper.limitations, paper.contributions]
        if paper.impl:
            values += [paper.impl.shows, paper.impl.deviations]
        for value in values:
            for lang in ("en", "zh"):
                if isinstance(value, Text) and value.has(lang):
                    texts.append(safe_markdown(value.get(lang)))
                elif isinstance(value, TextList) and value.has(lang):
                    texts += [safe_markdown(item) for item in value.get(lang)]
    return texts


# Code and math as digest/markdown_safety.py's PROTECTED finds them, but inline math may cross a line break, as
# arithmatex's may (not a blank line).
PROTECTED = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]+`|\$\$.*?\$\$|(?<!\\)\$(?:[^$\n]|\n(?![ \t]*\n))+\$)", re.S)
MATH_SLOT = re.compile("\ue000(\\d+)\ue001")


def with_math_kept_out(convert):
    """A CommonMark converter wrapped so that math reaches the page as arithmatex (generic) writes it: code spans
    and fences go to the engine, each `$...$` or `$$...$$` is replaced by a placeholder it leaves alone."""
    def run(text: str) -> str:
        parts = PROTECTED.split(text)
        maths = []
        for i in range(1, len(parts), 2):
            if parts[i].startswith("$"):
                maths.append(parts[i])
                parts[i] = f"\ue000{len(maths) - 1}\ue001"
        out = convert("".join(parts))

        def math(match: re.Match) -> str:
            source = maths[int(match.group(1))]
            if source.startswith("$$"):
                return f'<span class="arithmatex">\\[{html.escape(source[2:-2], quote=False)}\\]</span>'
            return f'<span class="arithmatex">\\({html.escape(source[1:-1], quote=False)}\\)</span>'
        # A paragraph that is one display formula is a block, as arithmatex makes it.
        out = re.sub("<p>\ue000(\\d+)\ue001</p>", lambda m: math(m).replace("<span", "<div").replace(
            "</span>", "</div>") if maths[int(m.group(1))].startswith("$$") else f"<p>{math(m)}</p>", out)
        return MATH_SLOT.sub(math, out)
    return run


def engines() -> dict:
    names, configs = mkdocs_extensions()
    python_markdown = markdown.Markdown(extensions=names, extension_configs=configs)
    found = {"Python-Markdown (today)": lambda text: python_markdown.reset().convert(text)}
    from digest.markdown_safety import commonmark_html  # cmark-gfm with tables, as the build converts
    found["cmark-gfm (C, the build's)"] = with_math_kept_out(commonmark_html)
    try:
        from markdown_it_pyrs import MarkdownIt
        parser = MarkdownIt("commonmark").enable("table")
        found["markdown-it.rs (Rust)"] = with_math_kept_out(parser.render)
    except ImportError:
        print("markdown-it-pyrs is not installed: skipped", file=sys.stderr)
    return found


def timed(function, items: list[str]) -> tuple[float, list]:
    start = time.perf_counter()
    for _ in range(REPEAT - 1):
        for item in items:
            function(item)
    out = [function(item) for item in items]
    return (time.perf_counter() - start) / REPEAT, out


def compare_markdown(project) -> None:
    texts = markdown_fields(project)
    found = engines()
    baseline = None
    print(f"Markdown: {len(texts)} fields of {len(project.papers)} records, both languages")
    print("| engine | ms per record | fields with the same HTML as today |\n|---|---|---|")
    for name, convert in found.items():
        seconds, out = timed(convert, texts)
        trees = [Tree(page).normal() for page in out]
        baseline = baseline or trees
        same = sum(a == b for a, b in zip(trees, baseline))
        print(f"| {name} | {1000 * seconds / len(project.papers):.2f} | {same} of {len(texts)} |")
        differing = [i for i, (a, b) in enumerate(zip(trees, baseline)) if a != b]
        for i in differing[:3]:
            first = next(k for k, (a, b) in enumerate(zip(trees[i], baseline[i])) if a != b) \
                if any(a != b for a, b in zip(trees[i], baseline[i])) else min(len(trees[i]), len(baseline[i]))
            print(f"    field {i}: today {baseline[i][first:first + 2]} / {name} {trees[i][first:first + 2]}")


def chinese_texts(project) -> list[str]:
    texts = []
    for paper in project.papers.values():
        for value in (paper.title, paper.tldr, paper.summary, paper.method, paper.limitations, paper.contributions):
            if value is not None and value.has("zh"):
                text = value.get("zh")
                texts += [search.normalize(t) for t in (text if isinstance(text, list) else [text])]
    return texts


def compare_segmentation(project) -> None:
    texts = chinese_texts(project)
    search.add_words(project)
    search.dictionary(), search.segmenter()  # both dictionaries loaded before the clock starts
    jieba = search.import_jieba()
    found = {"jieba (Python), search mode": lambda text: list(jieba.dt.cut_for_search(text, HMM=False)),
             "jieba-rs (Rust, the build's)": search.cut_for_search}
    print(f"\nChinese segmentation: {len(texts)} texts of {len(project.papers)} records "
          f"({sum(map(len, texts))} characters)")
    print("| segmenter | ms per record | texts cut into the same words as jieba |\n|---|---|---|")
    baseline = None
    for name, cut in found.items():
        seconds, out = timed(cut, texts)
        baseline = baseline or out
        same = sum(a == b for a, b in zip(out, baseline))
        print(f"| {name} | {1000 * seconds / len(project.papers):.2f} | {same} of {len(texts)} |")


def main() -> None:
    project, problems = load_project(REPO)
    assert project.papers and not [p for p in problems if p.severity == "error"], problems[:3]
    compare_markdown(project)
    compare_segmentation(project)


if __name__ == "__main__":
    main()
