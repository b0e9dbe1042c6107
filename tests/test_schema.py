"""The JSON Schema in schema/ is generated from digest/schema.py, kept in sync, and accepts the real records."""

import datetime as dt
import json
import re

import jsonschema
import pytest
import yaml

from digest.load import load_project
from digest.schema import SCHEMAS, Paper, PubDate, json_schema
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


# ---- a record's state and its date's precision -------------------------------------------------------------------

QUEUED = """\
id: gamma-queued
status: queued
title: {en: "Gamma: A Queued Paper"}
authors: [Grace Hopper]
published: 2019-06
citation: {type: misc, key: hopper2019gamma}
"""


@pytest.mark.parametrize("value, text, first_day", [
    (2017, "2017", "2017-01-01"), ("2017", "2017", "2017-01-01"), ("2017-06", "2017-06", "2017-06-01"),
    (dt.date(2017, 6, 12), "2017-06-12", "2017-06-12"), ("2017-06-12", "2017-06-12", "2017-06-12"),
])
def test_published_keeps_the_precision_of_its_source(value, text, first_day):
    date = PubDate.parse(value)
    assert date.isoformat() == text == str(date) and date.first_day().isoformat() == first_day


def test_dates_of_every_precision_sort_together():
    dates = [PubDate.parse(v) for v in ("2018", "2017-06-12", "2017", "2017-06", "2017-07-01")]
    assert [d.isoformat() for d in sorted(dates)] == ["2017", "2017-06", "2017-06-12", "2017-07-01", "2018"]


@pytest.mark.parametrize("value", ["2017-13", "2017-02-30", "17", "June 2017", True])
def test_impossible_or_vague_dates_are_refused(value):
    with pytest.raises(ValueError, match="expected a date YYYY-MM-DD"):
        PubDate.parse(value)


def test_a_queued_record_needs_only_bibliographic_facts_and_a_digested_one_needs_its_digest():
    data = yaml.safe_load(QUEUED)
    paper = Paper.model_validate(data)
    assert paper.status == "queued" and paper.published.isoformat() == "2019-06" and paper.tags == []
    with pytest.raises(ValueError, match="a digested record needs venue, tags, tldr, summary, contributions"):
        Paper.model_validate({**data, "status": "digested"})
    schema = json.loads((REPO / "schema" / "paper.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError, match="'venue' is a required property"):
        jsonschema.validate({k: v for k, v in data.items() if k != "status"}, schema)  # no status: digested


def test_records_without_status_are_digested():
    project, _ = load_project(REPO)
    assert len(project.papers) == 12 and project.digested == project.papers and not project.queue


def test_an_incomplete_digested_record_names_each_missing_field_at_its_status_line(tmp_path):
    from tests.conftest import make_project

    root = make_project(tmp_path)
    (root / "content" / "papers" / "gamma-queued.yaml").write_text(QUEUED.replace("status: queued", "status: digested"),
                                                                    encoding="utf-8")
    _, problems = load_project(root)
    text = [p.format() for p in problems]
    assert len(text) == 5, text
    assert text[0].startswith("content/papers/gamma-queued.yaml:2:1: error: venue: required field is missing: "
                              "the record says status: digested")
    assert "or set `status: draft` while the digest is being written" in text[0]
    assert {t.split(": ")[2] for t in text} == {"venue", "tags", "tldr", "summary", "contributions"}
