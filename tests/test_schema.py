"""The JSON Schema in schema/ is generated from digest/schema.py, kept in sync, and accepts the real records."""

import json
import re

import jsonschema
import pytest
import yaml

from digest.load import load_project
from digest.schema import SCHEMAS, json_schema
from tests.conftest import REPO

PAPERS = sorted((REPO / "content" / "papers").glob("*.yaml"))


def test_committed_schema_is_in_sync_with_the_models():
    project, _ = load_project(REPO)
    for name in SCHEMAS:
        committed = (REPO / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
        assert committed == json_schema(name, sorted(project.tags)), f"run `digest schema` ({name})"


@pytest.mark.parametrize("path", PAPERS, ids=[p.stem for p in PAPERS])
def test_every_record_validates_against_the_exported_schema_and_names_it(path):
    schema = json.loads((REPO / "schema" / "paper.schema.json").read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../schema/paper.schema.json"
    data = json.loads(json.dumps(yaml.safe_load(text), default=str))  # dates as the editor sees them: text
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())


def test_schema_rejects_an_unknown_tag_and_a_bad_arxiv_id():
    schema = json.loads((REPO / "schema" / "paper.schema.json").read_text(encoding="utf-8"))
    data = json.loads(json.dumps(yaml.safe_load(PAPERS[0].read_text(encoding="utf-8")), default=str))
    for field, value in (("tags", ["no-such-tag"]), ("arxiv", "arXiv:1234")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**data, field: value}, schema)


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert blocks[1].strip() == ci[-1].strip()
