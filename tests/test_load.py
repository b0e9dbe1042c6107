"""Load stage: every class of schema error is reported with file:line:col, field, expectation and a hint."""

from pathlib import Path

from digest.load import load_project


def write(project: Path, name: str, text: str) -> None:
    (project / "content" / "papers" / name).write_text(text, encoding="utf-8")


def problems_of(project: Path) -> list[str]:
    _, problems = load_project(project)
    return [p.format() for p in problems]


def replace_in(project: Path, name: str, old: str, new: str) -> None:
    path = project / "content" / "papers" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_fixture_project_loads_cleanly(project):
    loaded, problems = load_project(project)
    assert problems == []
    assert sorted(loaded.papers) == ["alpha-video", "beta-attention"]
    assert list(loaded.collections) == ["fixture-series"]


def test_text_given_a_list_names_file_line_column_and_field(project):
    replace_in(project, "alpha-video.yaml", "  zh: |\n    Alpha 把", "  zh: [a, b]\n  xx: |\n    Alpha 把")
    out = "\n".join(problems_of(project))
    assert "content/papers/alpha-video.yaml:16:7: error: summary.zh: expected text, got a list" in out


def test_unknown_key_suggests_the_close_one(project):
    replace_in(project, "alpha-video.yaml", "citation:", "citaton:")
    out = "\n".join(problems_of(project))
    assert "alpha-video.yaml:30:1: error: citaton: unknown key" in out
    assert "did you mean `citation`?" in out
    assert "citation: required field is missing" in out


def test_yaml_syntax_error_is_located(project):
    write(project, "broken.yaml", "id: broken\ntitle: {en: \"X\"\n")
    out = problems_of(project)
    assert any(line.startswith("content/papers/broken.yaml:3:1: error: YAML syntax error") for line in out)


def test_impossible_date_is_a_schema_error_not_a_crash(project):
    replace_in(project, "alpha-video.yaml", "published: 2024-01-05", "published: 2024-13-05")
    out = "\n".join(problems_of(project))
    assert "alpha-video.yaml:6:12: error: published: expected a date YYYY-MM-DD, got '2024-13-05'" in out


def test_bad_arxiv_id_explains_the_format(project):
    replace_in(project, "alpha-video.yaml", 'arxiv: "2401.00001"', 'arxiv: "arXiv:2401.00001v2"')
    out = "\n".join(problems_of(project))
    assert "arxiv: expected an arXiv id such as `2401.03048`" in out


def test_id_must_equal_file_name(project):
    replace_in(project, "alpha-video.yaml", "id: alpha-video", "id: alpha")
    out = "\n".join(problems_of(project))
    assert "alpha-video.yaml:2:5: error: id: id `alpha` differs from the file name `alpha-video`" in out


def test_duplicate_ids_are_errors(project):
    (project / "content" / "papers" / "alpha-video.yml").write_text(
        (project / "content" / "papers" / "alpha-video.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    out = "\n".join(problems_of(project))
    assert "duplicate paper id `alpha-video` (also in content/papers/alpha-video.yaml)" in out


def test_duplicate_key_in_a_mapping_is_reported(project):
    replace_in(project, "alpha-video.yaml", "venue: TMLR\n", "venue: TMLR\nvenue: ICLR\n")
    out = "\n".join(problems_of(project))
    assert "alpha-video.yaml:8:1: error: venue: this key appears twice" in out


def test_every_problem_of_every_file_in_one_run(project):
    replace_in(project, "alpha-video.yaml", "venue: TMLR", "venue: [TMLR]")
    replace_in(project, "beta-attention.yaml", "kind: paper", "kind: preprint")
    out = "\n".join(problems_of(project))
    assert "alpha-video.yaml:7:8: error: venue: expected text, got a list" in out
    assert "beta-attention.yaml:3:7: error: kind: expected one of 'paper' or 'article', got 'preprint'" in out
