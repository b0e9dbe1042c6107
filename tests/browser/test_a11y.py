"""Accessibility: axe-core, injected into the real pages, finds no serious or critical violation on the home page,
a paper page and the listing, in both languages and both colour schemes (contrast differs between them).

axe-core comes from npm (package.json pins it; `npm ci` installs it into node_modules/, as the README's test
command and .ci/run do) rather than from a Python wrapper: the issue asks for axe-core itself, the pin and its
integrity hash live in package-lock.json, and the tests read the one file they inject, axe.min.js.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import IN_CI
from tests.conftest import REPO

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ["", "papers/latte/", "papers/"]
SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        message = f"{AXE.relative_to(REPO)} is missing: run `npm ci` in the repository"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def run_axe(page, source: str) -> list[dict]:
    page.add_script_tag(content=source)
    result = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ["violations"]});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
    }""")
    return result


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("prefix", ["", "zh/"], ids=["en", "zh"])
def test_no_serious_or_critical_accessibility_violation(browser, base_url, axe_source, prefix, scheme):
    # The palette follows the system's preference until the reader picks one: emulate each.
    context = browser.new_context(base_url=base_url, color_scheme=scheme, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        found = {}
        for path in PAGES:
            page.goto(prefix + path, wait_until="load")
            page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise")
            violations = [v for v in run_axe(page, axe_source) if v["impact"] in SERIOUS]
            if violations:
                found[prefix + path] = violations
        assert not found, json.dumps(found, indent=1, ensure_ascii=False)
    finally:
        context.close()
