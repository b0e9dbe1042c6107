"""Shared fixtures: a small, complete project (config, templates, two fixture papers) in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.fixture
def project_with_impl(tmp_path: Path) -> Path:
    return make_project(tmp_path, with_impl=True)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """One full build of the fixture project (with the tiny implementation), shared by the build tests."""
    from digest.build import build_site

    root = make_project(tmp_path_factory.mktemp("built"), with_impl=True)
    build_site(root, echo=lambda line: None, keep_going=True)
    return root
