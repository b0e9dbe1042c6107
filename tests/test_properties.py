"""Property tests: whatever a record file holds, `digest check` answers with located problems (exit 0 or 1),
never an exception. Seeded and bounded (derandomize, a fixed number of examples), so CI runs are repeatable and
take a few seconds; the check runs in-process, the way the command runs it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.build import check
from digest.problems import DigestError
from digest.schema import Paper
from tests.conftest import REPO

SETTINGS = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RECORD = "content/papers/x.yaml"


@pytest.fixture(scope="module")
def one_record_project(tmp_path_factory) -> Path:
    """The real tags and glossary, the real implementations (claims name their tests), and no record yet."""
    root = tmp_path_factory.mktemp("property")
    (root / "content" / "papers").mkdir(parents=True)
    for name in ("tags.yaml", "glossary.yaml"):
        shutil.copy2(REPO / "content" / name, root / "content" / name)
    (root / "reference_impls").symlink_to(REPO / "reference_impls")
    return root


def check_problems(root: Path, data: bytes) -> list:
    """`digest check` on a project whose one record file holds `data`: its problems (errors and warnings)."""
    (root / RECORD).write_bytes(data)
    try:
        return check(root)[1]
    except DigestError as exc:  # the CLI prints these and exits 1: anything else would be a traceback
        return exc.problems


def assert_located(problems: list) -> None:
    for problem in problems:
        assert problem.path == RECORD and problem.line >= 1 and problem.col >= 1, problem.format()


YAML_PIECES = [b"id: ", b"title: ", b"en: ", b"zh: ", b"- ", b"  ", b"\n", b"&a ", b"*a", b"<<: ", b"? ", b"[", b"]",
               b"{", b"}", b", ", b"'", b'"', b"#", b"!!str ", b"!!float ", b"!x ", b"|\n", b">-\n", b"\t", b"\x00",
               b"\xff", b"\xef\xbb\xbf", b"\xfe\xff", b"2024-13-01", b"~", b"x", b"\xe4\xb8\xad", b"---\n", b"...\n"]


@settings(max_examples=150, **SETTINGS)
@given(st.one_of(st.binary(max_size=400), st.lists(st.sampled_from(YAML_PIECES), max_size=40).map(b"".join)))
def test_any_bytes_as_a_record_get_located_problems(one_record_project, data):
    assert_located(check_problems(one_record_project, data))


FIELDS = list(Paper.model_fields) + ["titel", "en", "zh"]
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                   st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
                   st.sampled_from(["2401.00001", "attention", "https://x.org", "TODO", "<b>x</b>"]))
trees = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=100, **SETTINGS)
@given(st.dictionaries(st.sampled_from(FIELDS), trees, max_size=12))
def test_record_shaped_trees_get_located_problems(one_record_project, record):
    assert_located(check_problems(one_record_project, yaml.safe_dump(record, allow_unicode=True).encode()))


REAL = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((REPO / "content/papers").glob("*.yaml"))}
WRONG = [None, True, 7, 2.5, "text", "", [], ["a"], {}, {"en": "x"}, dt.date(2024, 1, 1)]


def paths_of(data, path=()):
    """Every path into `data`: mappings' keys and lists' items, leaves and branches."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return
    for key, value in items:
        yield path + (key,)
        yield from paths_of(value, path + (key,))


def mutated(data, path, wrong, remove: bool):
    import copy

    data = copy.deepcopy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = wrong
    return data


@settings(max_examples=120, **SETTINGS)
@given(st.data())
def test_every_mutation_of_a_real_record_gets_located_problems(one_record_project, data):
    name = data.draw(st.sampled_from(sorted(REAL)))
    record = dict(REAL[name], id="x")
    path = data.draw(st.sampled_from(list(paths_of(record))))
    remove = data.draw(st.booleans())
    wrong = data.draw(st.sampled_from(WRONG))
    text = yaml.safe_dump(mutated(record, path, wrong, remove), allow_unicode=True)
    problems = check_problems(one_record_project, text.encode())
    assert_located(problems)


def test_each_real_record_checks_clean_in_the_property_project(one_record_project):
    for name, record in REAL.items():  # the baseline the mutations start from
        problems = check_problems(one_record_project, yaml.safe_dump(dict(record, id="x"), allow_unicode=True).encode())
        assert not [p for p in problems if p.severity == "error"], (name, [p.format() for p in problems])
