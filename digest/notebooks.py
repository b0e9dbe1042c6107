"""Notebook stage: one Jupyter notebook per paper with an implementation, written with nbformat.

The notebook stands alone: its first cells write the implementation's files next to it (`%%writefile`, so the
model reads as code), then it runs the demo's module code, sets the knobs, runs `run()`'s body one progress step
per cell with the new figures shown inline, writes `demo.json` like the demo does, and ends with the claims' tests.
Same sources, same bytes: fixed cell ids, no outputs, no execution counts or timestamps.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from digest.demos import SHARED_SOURCES, demo_knobs, impl_name, impl_requirements, impl_sources
from digest.problems import DigestError
from digest.schema import Paper

OUT_DIR = "out-notebook"
SHOW_FIGURES = '''from IPython.display import SVG, display

out_dir = Path("{out}")
out_dir.mkdir(exist_ok=True)
for stale in out_dir.glob("*.svg"):
    stale.unlink()
shown = set()


def show_new_figures():
    """Show the SVG figures the step above wrote (save_svg closes matplotlib's figure, so we show the file)."""
    for path in sorted(out_dir.glob("*.svg"), key=lambda p: p.stat().st_mtime_ns):
        if path.name not in shown:
            shown.add(path.name)
            display(SVG(filename=str(path)))'''


def new_code_cell(source: str) -> nbformat.NotebookNode:
    """A code cell as nbformat's new_code_cell makes it, without validating each cell on its own (nbformat's
    per-cell check took two thirds of the time): `nbformat.writes` validates the whole notebook once."""
    return nbformat.from_dict({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                               "source": source})


def new_markdown_cell(source: str) -> nbformat.NotebookNode:
    return nbformat.from_dict({"cell_type": "markdown", "metadata": {}, "source": source})


def _segments(source: str, nodes: list[ast.stmt], end: int) -> str:
    """Source text of consecutive statements from the first node's line to `end` (comments kept), dedented."""
    lines = source.splitlines()
    start = nodes[0].lineno - 1
    if getattr(nodes[0], "decorator_list", None):
        start = nodes[0].decorator_list[0].lineno - 1
    return textwrap.dedent("\n".join(lines[start:end])).strip("\n")


def _is_progress(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "progress")


def _split(body: list[ast.stmt], is_break) -> list[list[ast.stmt]]:
    groups: list[list[ast.stmt]] = []
    for node in body:
        if not groups or is_break(node, groups[-1]):
            groups.append([])
        groups[-1].append(node)
    return groups


def demo_cells(demo_path: Path, rel: str) -> tuple[list[str], list[ast.stmt], str]:
    """The demo module's top-level code as cells (each definition its own), `run`'s body and the docstring."""
    source = demo_path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    run = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"), None)
    if run is None:
        raise DigestError(f"{rel}: no `run(out_dir)` function: the notebook runs its body step by step")
    returns = [n for n in ast.walk(run) if isinstance(n, ast.Return)]
    if len(returns) != 1 or returns[0] is not run.body[-1]:
        raise DigestError(f"{rel}: `run` must end with its only `return DemoResult(...)` to become notebook cells")
    top = [n for n in tree.body if n is not run and not (isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))]
    if top and isinstance(top[0], ast.Expr) and isinstance(top[0].value, ast.Constant):
        top = top[1:]  # the module docstring goes to a Markdown cell
    groups = _split(top, lambda node, group: isinstance(node, (ast.FunctionDef, ast.ClassDef))
                    or isinstance(group[-1], (ast.FunctionDef, ast.ClassDef)))
    ends = [g[0].lineno - 1 if not getattr(g[0], "decorator_list", None) else g[0].decorator_list[0].lineno - 1
            for g in groups[1:]] + [run.lineno - 1]
    cells = [_segments(source, g, end) for g, end in zip(groups, ends)]
    return cells, run.body, ast.get_docstring(tree) or ""


def _step_title(node: ast.stmt) -> str:
    args = node.value.args
    if len(args) == 3 and isinstance(args[2], ast.Constant):
        return f"Step {ast.unparse(args[0])} of {ast.unparse(args[1])}: {args[2].value}"
    return f"Step {ast.unparse(args[0])} of {ast.unparse(args[1])}" if len(args) >= 2 else "Step"


def paper_notebook(root: Path, paper: Paper) -> str:
    """The notebook's JSON text (nbformat 4)."""
    name = impl_name(paper)
    folder = root / paper.impl.path
    rel_demo = f"{paper.impl.path}/demo.py"
    module_cells, body, docstring = demo_cells(folder / "demo.py", rel_demo)
    knobs = demo_knobs(root, paper)
    source = (folder / "demo.py").read_text(encoding="utf-8")
    links = [f"arXiv [{paper.arxiv}](https://arxiv.org/abs/{paper.arxiv})"] if getattr(paper, "arxiv", None) else []
    cells = [new_markdown_cell("\n".join([
        f"# {paper.title.en}", "",
        f"{', '.join(paper.authors)}" + (f" · {' · '.join(links)}" if links else ""), "",
        f"**TL;DR** {paper.tldr.en}", "",
        f"**What this notebook runs.** {paper.impl.shows.en}", "",
        f"**Where the toy departs from the paper.** {paper.impl.deviations.en}", "",
        "Requirements (Python 3.11 or newer): `pip install " + " ".join(f'"{r}"' for r in
                                                                   impl_requirements(root, paper)) + "`.",
        "The next cells write the implementation's files next to this notebook, so it runs on its own.",
    ]))]
    tests = {c.test.split("::")[0] for c in paper.claims}
    files = [root / s for s in SHARED_SOURCES] + impl_sources(root, paper)
    empty = [p.relative_to(root).as_posix() for p in files if p.suffix == ".py" and not p.read_text().strip()]
    cells.append(new_code_cell(f'from pathlib import Path\n\nPath("reference_impls/{name}").mkdir(parents=True, '
                               f'exist_ok=True)\nfor empty in {empty!r}:\n    Path(empty).touch()'))
    for path in files:
        rel = path.relative_to(root).as_posix()
        if path.suffix != ".py" or rel == rel_demo or rel in tests or rel in empty:
            continue
        if rel.endswith("/model.py"):
            cells.append(new_markdown_cell("## The model\n\nThe mechanism, in NumPy; its docstring is the "
                                           "paper's equations and where the toy departs from it."))
        elif rel.endswith("demo_io.py"):
            cells.append(new_markdown_cell("## Shared demo helpers\n\nDeterministic SVG figures, progress lines "
                                           "and the `demo.json` a demo leaves behind."))
        cells.append(new_code_cell(f"%%writefile {rel}\n" + path.read_text(encoding="utf-8").rstrip("\n")))
    cells.append(new_markdown_cell(f"## The demo\n\n{docstring}\n\nIts imports, constants and functions:"))
    cells += [new_code_cell(text) for text in module_cells]
    cells.append(new_code_cell("from reference_impls.demo_io import write_result"))
    if knobs:
        cells.append(new_markdown_cell("## Knobs\n\nChange them and run the cells below; the defaults give the "
                                       "figures on the paper's page."))
        cells.append(new_code_cell("\n".join(f"{k.name} = {k.default!r}  # {k.label_en}: {k.min} to {k.max}"
                                             for k in knobs)))
    cells.append(new_markdown_cell(f"## Running the demo\n\nThe body of `run()`, one step per cell; figures go to "
                                   f"`{OUT_DIR}/` and show below each step."))
    cells.append(new_code_cell(SHOW_FIGURES.format(out=OUT_DIR)))
    steps = _split(body, lambda node, group: _is_progress(node))
    ends = [g[0].lineno - 1 for g in steps[1:]] + [body[-1].lineno - 1]
    lines = source.splitlines()
    for group, end in zip(steps, ends):
        last = group[-1] is body[-1]
        code = _segments(source, group, end) if not (last and len(group) == 1) else ""
        if last:
            tail = textwrap.dedent("\n".join(lines[body[-1].lineno - 1:body[-1].end_lineno]))
            code = (code + "\n" if code else "") + "result = " + tail.strip().removeprefix("return").lstrip()
        if _is_progress(group[0]):
            cells.append(new_markdown_cell(f"### {_step_title(group[0])}"))
        cells.append(new_code_cell(code + "\nshow_new_figures()"))
    cells.append(new_markdown_cell("## Metrics\n\nThe numbers on the paper's page, written to `demo.json` as the "
                                   "demo does."))
    knob_values = "{" + ", ".join(f'"{k.name}": {k.name}' for k in knobs) + "}"
    cells.append(new_code_cell(f"write_result(result, out_dir, {knob_values})\n"
                               "for m in result.metrics:\n"
                               "    print(f\"{m.label_en}: {m.value} {m.unit}\".rstrip())"))
    if paper.claims:
        cells.append(new_markdown_cell("## The claims' tests\n\n" + "\n".join(
            f"- `{c.test.split('::')[1]}`: {c.text.en}" for c in paper.claims)))
        for rel in sorted(tests):
            cells.append(new_code_cell(f"%%writefile {rel}\n"
                                       + (root / rel).read_text(encoding="utf-8").rstrip("\n")))
        node_ids = ", ".join(f'"{c.test}"' for c in paper.claims)
        cells.append(new_code_cell(f"import json\nimport os\n\nimport pytest\n\n"
                                   f"os.environ[\"DEMO_KNOBS\"] = json.dumps({knob_values})  # the knobs, for "
                                   f"the tests\nclaims_exit = pytest.main([\"-q\", \"-p\", \"no:cacheprovider\", "
                                   f"{node_ids}])\nprint(\"all claims hold\" if claims_exit == 0 else "
                                   f"\"some claims failed: see above\")"))
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:02d}"
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    return nbformat.writes(notebook) + "\n"
