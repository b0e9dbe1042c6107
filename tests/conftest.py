"""Shared fixtures: a small, complete project (config, templates, two fixture papers) in a temporary folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from pathlib import Path
from typing import Callable

import pytest

collect_ignore = ["fixtures"]  # fixture implementations are run by the tests, not collected

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

IMPL_BLOCK = """
impl:
  path: reference_impls/tiny
  shows: {en: "Softmax rows sum to one.", zh: "softmax 每行之和为一。"}
  deviations: {en: "A fixture, not a paper.", zh: "测试夹具,并非论文。"}
claims:
  - id: rows-sum-to-one
    text: {en: "Softmax rows sum to one.", zh: "softmax 每行之和为一。"}
    test: reference_impls/tiny/test_tiny.py::test_rows_sum_to_one
  - id: deliberately-false
    text: {en: "A claim whose test fails.", zh: "一个测试会失败的论断。"}
    test: reference_impls/tiny/test_tiny.py::test_deliberately_false
"""


def make_project(folder: Path, with_impl: bool = False) -> Path:
    """Copy the site machinery from the repository and the fixture content into `folder`."""
    for name in ("mkdocs.yml",):
        shutil.copy2(REPO / name, folder / name)
    for name in ("templates", "overrides", "pages"):
        shutil.copytree(REPO / name, folder / name)
    shutil.copytree(FIXTURES / "content", folder / "content")
    (folder / "reference_impls").mkdir()
    for name in ("__init__.py", "demo_io.py"):
        shutil.copy2(REPO / "reference_impls" / name, folder / "reference_impls" / name)
    if with_impl:
        shutil.copytree(FIXTURES / "tiny_impl", folder / "reference_impls" / "tiny")
        (folder / "reference_impls" / "tiny" / "__init__.py").write_text("")
        record = folder / "content" / "papers" / "alpha-video.yaml"
        record.write_text(record.read_text(encoding="utf-8") + IMPL_BLOCK, encoding="utf-8")
    return folder


# ---- the order of a run on two workers -------------------------------------------------------------------------
# pytest -n 2 runs with --dist worksteal (pyproject.toml): one worker starts on the first half of the ordered tests,
# the other on the second, and a worker that runs out takes the back half of the other's queue. Both halves open
# with the downloads (tests/test_downloads.py), one in two each: the real site's build takes the demo outputs of
# their README runs instead of running the demos again (take_demo_outputs below: it waits for a download under way
# and runs a demo no download has run yet itself). The first half goes on with the tests of the real site (the
# worker that gets them builds it), the second with the slow tests that do not need it (slowest files first);
# cheap tests fill each half's end, where they balance the two at the close.
DOWNLOADS = "tests/test_downloads.py"
SLOW_WITHOUT_THE_REAL_SITE = ("tests/test_properties.py", "tests/test_new.py", "tests/test_build.py",
                              "tests/test_serve.py", "tests/browser/test_serve.py", "tests/browser/test_run.py",
                              "tests/test_runs.py", "tests/test_demos.py", "tests/test_importer.py")


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by their session-scoped parameters
def pytest_collection_modifyitems(items: list) -> None:
    real = [item for item in items if "build_real" in getattr(item, "fixturenames", ())]
    downloads = [item for item in items if item.nodeid.split("::")[0] == DOWNLOADS and "paper_id" in
                 getattr(item, "fixturenames", ()) and item not in real]
    first, second = downloads[::2], downloads[1::2]
    slow = sorted((item for item in items if item.nodeid.split("::")[0] in SLOW_WITHOUT_THE_REAL_SITE
                   and item not in real), key=lambda item: SLOW_WITHOUT_THE_REAL_SITE.index(item.nodeid.split("::")[0]))
    placed = {id(item) for item in real + downloads + slow}
    rest = [item for item in items if id(item) not in placed]
    filler = max(0, len(items) // 2 - len(first) - len(real))
    items[:] = first + real + rest[:filler] + second + slow + rest[filler:]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.fixture
def project_with_impl(tmp_path: Path) -> Path:
    return make_project(tmp_path, with_impl=True)


# ---- what a test run builds once: shared by the xdist workers (pytest -n 2) through a folder and a lock ----------

def run_folder(tmp_path_factory) -> Path:
    """The folder every xdist worker of this run shares (the run's base temporary folder: the workers' own are
    inside it), or this session's own without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def run_lock(tmp_path_factory, name: str):
    """Hold the run-wide lock `name`: one worker at a time gets in, the others wait (fcntl.flock, as digest/build.py's
    build lock; the kernel drops it if a worker dies)."""
    with open(run_folder(tmp_path_factory) / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def once_per_run(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `make(folder)` filled, once per test run: the first worker to ask makes it, the others wait for
    it and get the same folder. Tests read it; a test that changes it works on its own copy."""
    folder = run_folder(tmp_path_factory) / name
    done = folder.with_name(f"{name}.done")
    with run_lock(tmp_path_factory, name):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


# ---- demo outputs made once per run: a download's README demo, handed to the real site's build -----------------
# The real site's build (tests/browser/conftest.py) runs every demo and its claims' tests, as tests/test_downloads.py
# does from each download's README. A download that ran them (and passed) leaves its outputs here as a cached run
# (run.json keyed by the inputs' hash computed in the unzipped folder); the build takes those whose key is the one
# it computes, so a demo that another test ran on the same sources does not run again. The demos are deterministic
# (seeded, byte-identical SVG): the build would write the same bytes.

def demo_outputs_lock(tmp_path_factory, paper_id: str):
    """Held while a download runs `paper_id`'s demo, so the build waits for outputs under way, not redoes them."""
    return run_lock(tmp_path_factory, f"demo-{paper_id}")


def offer_demo_outputs(tmp_path_factory, out_dir: Path, run) -> None:
    """Keep the figures and demo.json in `out_dir`, with `run` (a DemoRun that passed) as their run.json, as the
    outputs of `run.paper_id` for the real site's build."""
    from digest.demos import save_run

    offered = run_folder(tmp_path_factory) / "demo-outputs"
    offered.mkdir(exist_ok=True)
    staging = offered / f".{run.paper_id}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(out_dir, staging)
    save_run(run, staging)
    shutil.rmtree(offered / run.paper_id, ignore_errors=True)
    staging.rename(offered / run.paper_id)


def take_demo_outputs(tmp_path_factory, root: Path) -> list[str]:
    """Copy into `root`'s demo cache the outputs downloads offered (waiting for a download under way); returns
    the ids taken. The build uses one only when its run.json's hash is the hash it computes for `root`."""
    from digest.demos import CACHE, cached_run
    from digest.load import load_project

    project, _ = load_project(root)
    taken = []
    for paper in sorted(project.papers.values(), key=lambda p: p.id):
        if paper.impl is None or cached_run(root, paper) is not None:
            continue
        with demo_outputs_lock(tmp_path_factory, paper.id):
            offered = run_folder(tmp_path_factory) / "demo-outputs" / paper.id
            if offered.is_dir():
                shutil.rmtree(root / CACHE / paper.id, ignore_errors=True)
                shutil.copytree(offered, root / CACHE / paper.id)
                if cached_run(root, paper) is not None:
                    taken.append(paper.id)
                else:  # made from other sources: the build runs the demo itself
                    shutil.rmtree(root / CACHE / paper.id)
    return taken


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """One full build of the fixture project (with the tiny implementation) per test run, shared by the build tests
    (read only: tests/test_build.py rebuilds a copy)."""
    from digest.build import build_site

    def make(folder: Path) -> None:
        build_site(make_project(folder, with_impl=True), echo=lambda line: None, keep_going=True)

    return once_per_run(tmp_path_factory, "built", make)


# ---- hostile text: a payload in every text field of a record, a collection, a tag and the glossary ------------

PAYLOAD = ("PAYLOAD<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=1\">"
           "[md](javascript:window.__pwned=1) [e](JaVa&#115;cript:window.__pwned=1) [t](java\tscript:x) "
           "<a href=\"javascript:window.__pwned=1\">h</a> <javascript:window.__pwned=1> [d](data:text/html,x) "
           "![i](javascript:x) {{ 7*7 }} {% raw %} \"'><svg onload=window.__pwned=1> *em* _u_ `c` | # "
           "{: onclick=\"window.__pwned=1\" } $\\href{javascript:window.__pwned=1}{m}$")
# Keys whose values are identifiers, dates, URLs or references, not text: the schema rejects a payload there.
STRUCTURAL = {"id", "kind", "published", "added", "arxiv", "doi", "links", "tags", "path", "test", "paper", "date",
              "type", "key", "year", "value", "status", "state"}


def with_payload(data, key: str = ""):
    """`data` with every text leaf (outside STRUCTURAL keys) replaced by PAYLOAD."""
    if key in STRUCTURAL:
        return data
    if isinstance(data, dict):
        return {k: with_payload(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [with_payload(v, key) for v in data]
    return PAYLOAD if isinstance(data, str) else data


def make_payload_project(folder: Path) -> Path:
    """The fixture project with PAYLOAD in every text field of alpha-video (and its implementation block), of the
    collection, of a tag's labels and of a glossary term's note."""
    import yaml

    root = make_project(folder, with_impl=True)
    content = root / "content"
    for rel in ("papers/alpha-video.yaml", "collections/fixture-series.yaml"):
        data = yaml.safe_load((content / rel).read_text(encoding="utf-8"))
        (content / rel).write_text(yaml.safe_dump(with_payload(data), allow_unicode=True), encoding="utf-8")
    tags = yaml.safe_load((content / "tags.yaml").read_text(encoding="utf-8"))
    tags["diffusion"] = {"en": PAYLOAD, "zh": PAYLOAD}
    (content / "tags.yaml").write_text(yaml.safe_dump(tags, allow_unicode=True), encoding="utf-8")
    glossary = yaml.safe_load((content / "glossary.yaml").read_text(encoding="utf-8"))
    glossary["terms"][0]["note"] = {"en": PAYLOAD, "zh": PAYLOAD}
    (content / "glossary.yaml").write_text(yaml.safe_dump(glossary, allow_unicode=True), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def payload_site(tmp_path_factory) -> Path:
    """The payload project, built once per test run; returns its site/ folder."""
    from digest.build import build_site

    def make(folder: Path) -> None:
        build_site(make_payload_project(folder), echo=lambda line: None, keep_going=True)

    return once_per_run(tmp_path_factory, "payload", make) / "site"


def active_content(page_html: str) -> list[str]:
    """What in a page could run script: an event handler or a script carrying PAYLOAD's marker, or a link or
    source to a javascript:, vbscript: or data: URL (browsers drop whitespace and controls inside a scheme)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        script = False

        def handle_starttag(self, tag, attrs):
            self.script = tag == "script"
            for name, value in attrs:
                value = value or ""
                scheme = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                if name.startswith("on") and "__pwned" in value or name in URL_ATTRS and (
                        scheme.startswith(("javascript:", "vbscript:")) or scheme.startswith("data:") and tag != "img"):
                    found.append(f"<{tag} {name}={value[:80]!r}>")

        def handle_data(self, data):
            if self.script and "__pwned" in data:
                found.append(f"<script>{data[:80]!r}")

        def handle_endtag(self, tag):
            self.script = False

    Finder(convert_charrefs=True).feed(page_html)
    return found


URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "poster", "data", "background", "srcdoc"}
