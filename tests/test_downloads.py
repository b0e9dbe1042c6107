"""Every real paper's download stands alone: unzipped into an empty folder, its README's commands run there as
written (the demo, then the claims' tests), and its notebook, executed by nbclient in an ipykernel kernel, gives
the demo's metrics and passes the claims' tests, importing nothing from the project outside the folder."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from digest.demos import claim_statuses, finished_run, impl_name, inputs_hash, source_zip
from digest.load import load_project
from digest.notebooks import paper_notebook
from tests.conftest import REPO, demo_outputs_lock, offer_demo_outputs

PROJECT, _ = load_project(REPO)
PAPERS = sorted(p.id for p in PROJECT.papers.values() if p.impl is not None)
# What a reader's shell would have: no PYTHONPATH into the repository, no pytest state of this run, and no pytest
# plugin but what requirements.txt installs (none: this environment's hypothesis, xdist, ... stay unloaded, which
# also spares each pytest run loading them).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST_")},
       "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
       "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
CHECK_IMPORTS = """
import os, sys
here = os.path.realpath(os.getcwd())
outside = sorted(m.__name__ for m in list(sys.modules.values())
                 if m.__name__.split(".")[0] in ("reference_impls", "digest")
                 and not os.path.realpath(getattr(m, "__file__", None) or here).startswith(here))
print(json.dumps({"outside": outside, "claims_exit": int(claims_exit)}))
"""


def unzip(paper_id: str, folder: Path) -> Path:
    paper = PROJECT.papers[paper_id]
    notebook = paper_notebook(REPO, paper).encode("utf-8")
    zipfile.ZipFile(io.BytesIO(source_zip(REPO, paper, {f"{paper_id}.ipynb": notebook}))).extractall(folder)
    return folder / impl_name(paper)


def readme_commands(readme: str) -> list[list[str]]:
    """The commands of the README's ```bash blocks, each split as a shell would (comments dropped)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", readme, re.M | re.S)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("paper_id", PAPERS)
def test_download_runs_alone_and_its_notebook_gives_the_demo_metrics(paper_id, tmp_path, tmp_path_factory):
    import nbformat
    from nbclient import NotebookClient

    folder = unzip(paper_id, tmp_path)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"(^|\s)(/tmp|/home|/work|/root|[A-Z]:\\)", readme) and not re.search(r"^digest |pip install -e|\bdigest (demo|build|serve)", readme, re.M)

    # The README's commands, literally, from the unzipped folder, with this interpreter as `python`. The one that
    # installs is checked, not run (no network during tests): requirements.txt exists and pins version ranges.
    commands = readme_commands(readme)
    assert commands[0] == ["python", "-m", "pip", "install", "-r", "requirements.txt"]
    requirements = (folder / "requirements.txt").read_text(encoding="utf-8").split()
    assert {r.split(">")[0] for r in requirements} >= {"numpy", "matplotlib", "pytest"}
    assert all(re.fullmatch(r"[a-z]+>=[\d.]+,<\d+", r) for r in requirements)
    paper = PROJECT.papers[paper_id]
    demo_module = f"reference_impls.{impl_name(paper)}.demo"
    assert [c[:3] for c in commands[1:]] == [["python", "-m", demo_module], ["python", "-m", "pytest"]]  # once each
    # pytest's JUnit report (written outside the folder) gives each claim's outcome, as the build reads it.
    report = tmp_path / "claims.xml"
    with demo_outputs_lock(tmp_path_factory, paper_id):
        digest = inputs_hash(folder, paper)
        seconds = {}
        for command in commands[1:]:
            env = {**ENV, "PYTEST_ADDOPTS": f"--junitxml={report}"} if command[2] == "pytest" else ENV
            start = time.perf_counter()
            done = subprocess.run([sys.executable, *command[1:]], cwd=folder, env=env, capture_output=True,
                                  text=True, timeout=300)
            seconds[command[2]] = time.perf_counter() - start
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        demo = json.loads((folder / "out" / "demo.json").read_text(encoding="utf-8"))
        claims = claim_statuses(paper, report)
        assert {test: status.outcome for test, status in claims.items()} == {c.test: "passed" for c in paper.claims}
        if inputs_hash(folder, paper) == digest:  # the real site's build takes this run (tests/conftest.py)
            offer_demo_outputs(tmp_path_factory, folder / "out",
                               finished_run(paper, digest, demo, seconds[demo_module], claims))

    notebook = nbformat.read(folder / f"{paper_id}.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import json\n" + CHECK_IMPORTS))
    # A cell's output may come after the kernel's reply to it: nbclient waits 4 s for it by default and then goes
    # on without it (a loaded machine lost the last cell's output once); wait longer, and fail by name if not.
    NotebookClient(notebook, timeout=300, kernel_name="python3", iopub_timeout=120, raise_on_iopub_timeout=True,
                   resources={"metadata": {"path": str(folder)}}).execute(env=ENV)
    checked = json.loads(notebook.cells[-1].outputs[-1]["text"].strip().splitlines()[-1])
    assert checked == {"outside": [], "claims_exit": 0}, notebook.cells[-2].outputs
    from_notebook = json.loads((folder / "out-notebook" / "demo.json").read_text(encoding="utf-8"))
    assert from_notebook["metrics"] == demo["metrics"]
    assert sorted(p.name for p in (folder / "out-notebook").glob("*.svg")) == \
        sorted(f["file"] for f in demo["figures"])
    shown = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(shown) == len(demo["figures"])  # every figure inline


def test_the_notebook_is_byte_identical_with_fixed_cell_ids_and_no_outputs():
    paper = PROJECT.papers["latte"]
    text = paper_notebook(REPO, paper)
    assert text == paper_notebook(REPO, paper)
    data = json.loads(text)
    assert [c["id"] for c in data["cells"]] == [f"cell-{i:02d}" for i in range(len(data["cells"]))]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in data["cells"]
               if c["cell_type"] == "code")
    assert '"execution": {' not in text and "iopub" not in text and sys.version.split()[0] not in text
