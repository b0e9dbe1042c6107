"""Load stage: every class of schema error is reported with file:line:col, field, expectation and a hint."""

import shutil
from pathlib import Path

import pytest

from digest.load import RecordCache, load_project


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
    assert "duplicate paper id `alpha-video` (also in content/papers/alpha-video.yaml:2)" in out


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


# ---- hostile bytes: each file is one located problem, and the other files are still checked -------------------

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def alpha_text(project: Path) -> str:
    return (project / "content" / "papers" / "alpha-video.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("make, where, message", [
    (lambda t: t.replace("published:", "pub\0lished:").encode(), "6:4", "control character U+0000"),
    (lambda t: t.replace("published:", "pub\x1blished:").encode(), "6:4", "control character U+001B"),
    (lambda t: t.encode("utf-16"), "1:1", "saved as UTF-16 (the file starts with a UTF-16 byte-order mark)"),
    (lambda t: t.encode("utf-16-le"), "1:1", "saved as UTF-16 without a byte-order mark"),
    (lambda t: t.encode("utf-32"), "1:1", "saved as UTF-32"),
    (lambda t: t.encode("gbk"), "4:56", "not UTF-8: byte 0xCA here is invalid continuation byte (the file reads "
                                        "as GBK / GB18030"),
    (lambda t: t.encode().replace(b"published", b"publ\xffished"), "6:5", "not UTF-8: byte 0xFF"),
    (lambda t: b"a: " + b"x" * (50 * 1024**2), "1:1", "file larger than 1024 KB, not read"),
    (lambda t: LAUGHS.encode(), "2:8", "YAML aliases (`*name`) are not allowed in a record"),
    (lambda t: b"x: &x {a: 1}\ny:\n  <<: *x\n", "3:3", "YAML merge keys (`<<`) are not allowed in a record"),
    (lambda t: b"y:\n  <<: {a: 1}\n", "2:3", "YAML merge keys (`<<`) are not allowed in a record"),
    (lambda t: b"id: !!python/object/apply:os.system [ls]\n", "1:5", "explicit YAML tag"),
    (lambda t: b"id: !!float abc\n", "1:5", "explicit YAML tag `tag:yaml.org,2002:float`"),
    (lambda t: b"? [a, b]\n: c\n", "1:3", "a key must be a plain name (no list, mapping, alias or tag)"),
    (lambda t: b"a: " + b"[" * 100_000 + b"]" * 100_000, "1:43", "nested more than 40 levels deep"),
    (lambda t: ("a:\n" + "".join("  " * i + "- \n" for i in range(60))).encode(), "42:81", "nested more than 40"),
    (lambda t: b"id: " + b"x" * 500_000 + b"\n", "1:1", "title: required field is missing"),
    (lambda t: b"id: " + b"9" * 5000 + b"\n", "1:5", "a number of 5000 digits"),
])
def test_hostile_bytes_give_one_located_problem_and_the_rest_is_checked(project, make, where, message):
    (project / "content" / "papers" / "hostile.yaml").write_bytes(make(alpha_text(project)))
    write(project, "gamma.yaml", "id: gamma\n")  # another broken file: still reported
    out = problems_of(project)
    mine = [line for line in out if line.startswith("content/papers/hostile.yaml")]
    assert any(line.startswith(f"content/papers/hostile.yaml:{where}: error: ") and message in line
               for line in mine), mine
    assert any(line.startswith("content/papers/gamma.yaml:1:1: error: title: required") for line in out)


def test_a_utf8_byte_order_mark_is_accepted(project):
    path = project / "content" / "papers" / "alpha-video.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert problems_of(project) == []


def test_an_unreadable_record_path_is_a_problem(project):
    (project / "content" / "papers" / "folder.yaml").mkdir()
    assert problems_of(project) == ["content/papers/folder.yaml:1:1: error: cannot read the file (Is a directory)"
                                    "\n    hint: check that it is a readable file"]


@pytest.mark.parametrize("name", ["tags.yaml", "glossary.yaml", "collections/fixture-series.yaml"])
def test_tags_glossary_and_collections_are_read_the_same_way(project, name):
    path = project / "content" / name
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\0", 1))
    assert any(line.startswith(f"content/{name}:2:1: error: control character U+0000") for line in problems_of(project))


def test_records_are_parsed_once_until_they_change(project):
    papers = project / "content" / "papers"
    first, problems = load_project(project)
    assert not problems and list((project / RecordCache.FOLDER).glob("*.pickle"))
    again, problems = load_project(project)  # every record from the cache
    assert not problems and again.papers == first.papers and again.sources == first.sources
    record = papers / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace("zebrafinch", "hummingbird"), encoding="utf-8")

    def shards():
        return {p.name: p.stat().st_mtime_ns for p in (project / RecordCache.FOLDER).glob("*.pickle")}

    before = shards()
    edited, _ = load_project(project)
    assert "hummingbird" in edited.papers["alpha-video"].model_dump_json()
    after = shards()  # the edited record left one shard and joined one: no other shard was written
    assert len([name for name in after if before.get(name) != after[name]]) + len(before.keys() - after.keys()) <= 2
    assert len(before) >= 3, before
    record.write_text(record.read_text(encoding="utf-8").replace("venue:", "venu:"), encoding="utf-8")
    for _ in range(2):  # a record with problems is never cached: each run reports them
        broken, problems = load_project(project)
        assert "alpha-video" not in broken.papers and any(p.field == "venu" for p in problems)
    for shard in (project / RecordCache.FOLDER).glob("*.pickle"):
        shard.write_bytes(b"not a pickle")
    assert load_project(project)[0].papers.keys() == broken.papers.keys()  # an unreadable cache is rebuilt
    assert load_project(project)[0].papers == broken.papers


def test_a_problem_found_in_a_cached_record_is_located_as_in_a_parsed_one(project):
    """Cached records keep their positions packed (PackedMarks): a cross-record problem, here a tag that
    tags.yaml no longer has, names the same line and column whether the record was parsed or came from the cache."""
    from digest.validate import validate

    load_project(project)  # caches every record
    tags = project / "content" / "tags.yaml"
    tags.write_text("\n".join(line for line in tags.read_text(encoding="utf-8").splitlines()
                              if not line.startswith("video-generation:")) + "\n", encoding="utf-8")

    def unknown_tags():
        loaded, problems = load_project(project)
        return [p.format() for p in problems + validate(loaded) if "unknown tag" in p.message]

    cached = unknown_tags()
    shutil.rmtree(project / RecordCache.FOLDER)
    parsed = unknown_tags()
    assert cached == parsed and any("alpha-video.yaml:10:" in line for line in parsed), parsed


def test_records_parsed_by_two_processes_load_as_in_one(project, monkeypatch):
    """A first load of many records is split between two forked processes (parse_records): the project, its
    problems (file:line:col, in file order) and its broken records are the same as parsed here, and the work given
    for this process meanwhile runs once (and not when this process parses)."""
    import digest.load

    replace_in(project, "alpha-video.yaml", "venue: TMLR", "venue: [TMLR]")
    write(project, "hostile.yaml", LAUGHS)
    write(project, "zz-syntax.yaml", "id: zz-syntax\ntitle: [unclosed\n")

    def load(threshold: int):
        shutil.rmtree(project / RecordCache.FOLDER, ignore_errors=True)
        monkeypatch.setattr(digest.load, "PARALLEL_PARSE", threshold)
        calls = []  # what `meanwhile` is given: the project with its glossary read and no records yet
        loaded, problems = load_project(project, meanwhile=lambda early: calls.append(
            bool(early.glossary.terms) and not early.papers))
        assert calls == ([True] if threshold == 1 else [])
        return loaded, [p.format() for p in problems]

    (one, one_problems), (two, two_problems) = load(10**6), load(1)
    assert two_problems == one_problems and len(one_problems) >= 3
    assert two.papers == one.papers and two.collections == one.collections and two.broken == one.broken
    assert {k: (s.rel, s.data) for k, s in two.sources.items()} == {k: (s.rel, s.data) for k, s in one.sources.items()}
    assert "alpha-video.yaml:7:8: error: venue: expected text, got a list" in "\n".join(two_problems)


def test_a_papers_bibtex_entry_is_made_where_it_is_parsed_and_kept_with_the_record(tmp_path):
    from digest import bibtex
    from tests.conftest import make_project

    root = make_project(tmp_path)
    project, _ = load_project(root)
    assert project.papers
    for paper_id, paper in project.papers.items():
        assert project.source("paper", paper_id).bibtex == bibtex.entry_text(paper)
    again, _ = load_project(root)  # from .cache/records/
    for paper_id in project.papers:
        assert again.source("paper", paper_id).bibtex == project.source("paper", paper_id).bibtex


def test_what_is_made_where_a_record_is_parsed_belongs_to_that_record_only(project):
    """Each paper's hashes (load.record_digests), made where it is parsed and kept with it, are used for that very
    record only: a record read again (`digest serve` puts it into a copy of the project) gets its own. The row's
    hash leaves the prose out; the record's does not."""
    import dataclasses

    from digest.load import record_digests

    for loaded in (load_project(project)[0], load_project(project)[0]):  # parsed, then from .cache/records/
        paper = loaded.digested["alpha-video"]
        assert loaded.made_from(paper) is loaded.source("paper", paper.id)
        assert loaded.digests(paper) == record_digests(paper)
    summary = paper.model_copy(update={"summary": paper.summary.model_copy(update={"en": "Another summary."})})
    venue = paper.model_copy(update={"venue": "Zebrafinch Workshop"})
    for edited in (summary, venue):
        copy = dataclasses.replace(loaded, papers={**loaded.papers, paper.id: edited})
        assert copy.made_from(edited) is None and copy.digests(edited) == record_digests(edited)
        assert copy.digests(edited)[0] != loaded.digests(paper)[0]
    assert record_digests(summary)[1] == loaded.digests(paper)[1] != record_digests(venue)[1]


def test_the_builds_own_state_committed_to_the_repository_is_refused(project):
    """A pull request that commits `.cache/` (pickles, which run code when read) or `build/` (Markdown published
    as it is when its page key matches) gets a located error, not a build that reads them."""
    import subprocess

    from digest.problems import DigestError

    load_project(project)  # writes .cache/records/ (ignored: nothing committed yet)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    load_project(project)
    shard = next((project / ".cache" / "records").glob("*.pickle"))
    subprocess.run(["git", "-C", str(project), "add", "-f", str(shard)], check=True)
    with pytest.raises(DigestError) as caught:
        load_project(project)
    (problem,) = caught.value.problems
    assert problem.path == shard.relative_to(project).as_posix() and "committed to the repository" in problem.message
    assert "git rm -r --cached --ignore-unmatch .cache build .site.old" in problem.hint
    subprocess.run(["git", "-C", str(project), "rm", "-q", "-r", "--cached", "--ignore-unmatch", ".cache", "build",
                    ".site.old"], check=True)
    load_project(project)
