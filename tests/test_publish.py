"""The deploy workflow (.github/workflows/pages.yml): actionlint finds nothing in it, and it builds the site with
the README's own commands, for the address GitHub Pages gives it."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from digest.build import SITE_URL_ENV
from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"


def commands(script: str) -> list[str]:
    """The commands of a shell line or script, one per `&&` or line."""
    return [c.strip() for line in script.splitlines() for c in line.split("&&") if c.strip()]


def readme_build_commands() -> list[str]:
    """The README's "Build the site" commands, without `digest serve` (the local preview)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\*\*Build the site\*\*.*?```bash\n(.*?)```", readme, re.S)
    assert block, "README.md has no **Build the site** command block"
    return [c for c in commands(block.group(1)) if not c.startswith("digest serve")]


def test_actionlint_finds_nothing_in_the_workflow():
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.fail('actionlint is missing: pip install -e ".[test]"')
    result = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_builds_with_the_readme_commands_for_the_pages_address():
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    steps = jobs["build"]["steps"]
    runs = [step for step in steps if "run" in step]
    assert [commands(step["run"]) for step in runs] == [readme_build_commands()]
    assert runs[0]["env"] == {SITE_URL_ENV: "${{ steps.pages.outputs.base_url }}/"}
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert uses.index("actions/configure-pages") < steps.index(runs[0]) < uses.index("actions/upload-pages-artifact")
    assert next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))["with"] == \
        {"path": "site"}
    assert [s["uses"].split("@")[0] for s in jobs["deploy"]["steps"]] == ["actions/deploy-pages"]
    assert jobs["deploy"]["needs"] == "build"
    # The caches of the last run come back before the build (a deploy converts only the pages that changed).
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert set(cache["with"]["path"].split()) == {".cache", "build"} and steps.index(cache) < steps.index(runs[0])


def test_readme_publish_section_names_the_workflow_and_the_address_setting():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Publish", 1)[1].split("\n## ", 1)[0]
    for needle in (".github/workflows/pages.yml", "--site-url", SITE_URL_ENV, "site_url"):
        assert needle in section, needle
