"""Shared fixtures: a small, complete project (config, templates, two fixture papers) in a temporary folder."""

from __future__ import annotations

import re
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
    """The payload project, built once for the session; returns its site/ folder."""
    from digest.build import build_site

    root = make_payload_project(tmp_path_factory.mktemp("payload"))
    return build_site(root, echo=lambda line: None, keep_going=True).site


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
