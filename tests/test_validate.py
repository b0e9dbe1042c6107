"""Validate stage: cross-record problems, warnings, and --strict."""

from pathlib import Path

from digest.load import load_project
from digest.validate import validate


def problems(project: Path, strict: bool = False) -> list[str]:
    loaded, found = load_project(project)
    return [p.format() for p in found + validate(loaded, strict)]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def paper(project: Path, name: str) -> Path:
    return project / "content" / "papers" / f"{name}.yaml"


def test_fixture_project_has_only_the_expected_warning(project):
    out = problems(project)
    assert all("warning" in line for line in out)
    assert any("beta-attention.yaml" in line and "contributions" in line and "no Chinese text" in line
               for line in out)


def test_unknown_tag_suggests_a_known_one(project):
    edit(paper(project, "alpha-video"), "tags: [diffusion,", "tags: [difusion,")
    out = "\n".join(problems(project))
    assert "alpha-video.yaml:10:8: error: tags[0]: unknown tag `difusion`" in out
    assert "did you mean `diffusion`?" in out


def test_collection_naming_a_missing_paper(project):
    edit(project / "content" / "collections" / "fixture-series.yaml", "paper: alpha-video", "paper: alpha-vidoe")
    out = "\n".join(problems(project))
    assert "fixture-series.yaml:8:13: error: papers[1].paper: no paper `alpha-vidoe` in content/papers" in out
    assert "did you mean `alpha-video`?" in out


def test_missing_implementation_folder(project_with_impl):
    edit(paper(project_with_impl, "alpha-video"), "path: reference_impls/tiny", "path: reference_impls/tinny")
    out = "\n".join(problems(project_with_impl))
    assert "impl.path: implementation folder `reference_impls/tinny` does not exist" in out


def test_claim_naming_a_missing_test(project_with_impl):
    edit(paper(project_with_impl, "alpha-video"), "test_tiny.py::test_rows_sum_to_one",
         "test_tiny.py::test_rows_sum_to_two")
    out = "\n".join(problems(project_with_impl))
    assert "claims[0].test: no test `test_rows_sum_to_two` in reference_impls/tiny/test_tiny.py" in out


def test_missing_translation_is_a_warning_and_an_error_when_strict(project):
    out = problems(project)
    line = next(line for line in out if "contributions" in line)
    assert "warning: contributions: no Chinese text" in line
    strict = problems(project, strict=True)
    assert any("error: contributions: no Chinese text" in line for line in strict)


def test_todo_left_in_a_record_is_named(project):
    edit(paper(project, "alpha-video"), "venue: TMLR", "venue: TODO venue")
    out = "\n".join(problems(project, strict=True))
    assert "alpha-video.yaml:7:8: error: venue: still marked TODO" in out


def test_english_glossary_term_in_chinese_text(project):
    edit(paper(project, "alpha-video"), "Alpha 把潜在扩散用于视频生成", "Alpha 把 latent diffusion 用于视频生成")
    out = "\n".join(problems(project))
    assert "summary.zh: English term `latent diffusion` in Chinese text" in out
    assert "the glossary says `潜在扩散`" in out


def test_todo_comment_is_named_with_its_line(project):
    edit(paper(project, "alpha-video"), "tags: [diffusion, video-generation]",
         "tags: [diffusion, video-generation]  # TODO: tags guessed from the title")
    out = "\n".join(problems(project, strict=True))
    assert "alpha-video.yaml:10:38: error: TODO comment: tags guessed from the title" in out


# ---- uniqueness, and no follow-on errors ----------------------------------------------------------------------

def test_a_citation_key_used_twice_names_both_files_and_lines(project):
    edit(paper(project, "alpha-video"), "key: lovelace2024alpha", "key: hopper2023beta")
    out = "\n".join(problems(project))
    assert ("content/papers/beta-attention.yaml:17:38: error: citation.key: citation key `hopper2023beta` is also "
            "used by content/papers/alpha-video.yaml:30") in out


def test_citation_keys_differing_only_in_case_clash(project):
    edit(paper(project, "alpha-video"), "key: lovelace2024alpha", "key: Hopper2023Beta")
    out = "\n".join(problems(project))
    assert "citation key `hopper2023beta` is also used by content/papers/alpha-video.yaml:30 (as `Hopper2023Beta`" in out


def test_two_records_of_one_arxiv_paper_are_a_warning_naming_both(project):
    edit(paper(project, "beta-attention"), "kind: paper", 'kind: paper\narxiv: "2401.00001"')
    out = "\n".join(problems(project))
    assert ("content/papers/beta-attention.yaml:4:8: warning: arxiv: arXiv 2401.00001 is also the paper of "
            "content/papers/alpha-video.yaml:8") in out


def test_a_claim_id_used_twice_in_a_record_names_both_lines(project_with_impl):
    edit(paper(project_with_impl, "alpha-video"), "id: deliberately-false", "id: rows-sum-to-one")
    out = "\n".join(problems(project_with_impl))
    assert "error: claims[1].id: claim id `rows-sum-to-one` is also used on line 37" in out


def test_a_duplicate_id_names_the_first_file_and_line(project):
    text = paper(project, "alpha-video").read_text(encoding="utf-8")
    (project / "content" / "papers" / "alpha-video.yml").write_text(text, encoding="utf-8")
    out = "\n".join(problems(project))
    assert ("content/papers/alpha-video.yml:2:5: error: id: duplicate paper id `alpha-video` (also in "
            "content/papers/alpha-video.yaml:2)") in out


def test_a_collection_naming_a_record_with_errors_says_so_not_that_it_is_missing(project):
    edit(paper(project, "alpha-video"), "venue: TMLR", "venue: [TMLR]")
    out = "\n".join(problems(project))
    assert "alpha-video.yaml:7:8: error: venue: expected text" in out
    assert "no paper `alpha-video`" not in out
    assert ("fixture-series.yaml:8:13: warning: papers[1].paper: paper `alpha-video` has errors "
            "(see content/papers/alpha-video.yaml)") in out
    paper(project, "alpha-video").write_bytes(b"id: alpha-video\0")  # unreadable: known by its file name
    assert "paper `alpha-video` has errors" in "\n".join(problems(project))


def test_a_link_in_text_must_name_a_page_of_the_site(project):
    """The long fields reach the page as finished HTML, which MkDocs does not check: `digest check` does. Links to
    a paper's, a tag's or the guide's page are fine (paths from the papers folder); math and code hold no link."""
    edit(paper(project, "alpha-video"), "Its unique marker word is zebrafinch.",
         "Its unique marker word is zebrafinch, as in [Beta](beta-attention.md#method), [a tag](../tags/diffusion.md),"
         " [the guide](../add-a-paper.md), [out](https://example.org/x.md) and $[0, 1](x)$.")
    assert not [line for line in problems(project) if "link" in line]
    edit(paper(project, "alpha-video"), "[Beta](beta-attention.md#method)",
         "[Gamma](gamma.md) [arXiv](arxiv.org/abs/1) [x](../tags/nothing.md#top)")
    out = [line for line in problems(project) if "link" in line]
    assert len(out) == 2 and all("alpha-video.yaml:14:7: error: summary.en: link to" in line for line in out)
    assert "`gamma.md`, which is not a page of the site" in out[0] and "`../tags/nothing.md#top`" in out[1]
    assert "link a paper as `<id>.md`" in out[0]


def test_text_checks_are_kept_by_record_and_follow_each_input(project, monkeypatch):
    """A record's text checks are kept (.cache/text-checks.pickle) by its file's bytes and by all else they read:
    a second run checks no record's texts again; an edited record, a new page for links to name, or a changed
    glossary is checked again, and the problems are those of a run without the cache."""
    from digest import validate as stage

    checked = []
    check_texts = stage.check_texts
    monkeypatch.setattr(stage, "check_texts", lambda paper, *args: checked.append(paper.id) or check_texts(paper, *args))

    def run() -> list[str]:
        checked.clear()
        return problems(project)

    first = run()
    assert sorted(checked) == ["alpha-video", "beta-attention"]
    assert run() == first and checked == []
    edit(paper(project, "alpha-video"), "Alpha 把潜在扩散用于视频生成", "Alpha 把 latent diffusion 用于视频生成")
    out = run()
    assert checked == ["alpha-video"] and "English term `latent diffusion` in Chinese text" in "\n".join(out)
    edit(paper(project, "alpha-video"), "Its unique marker word is zebrafinch.", "See [the guide](../faq.md).")
    assert "`../faq.md`, which is not a page of the site" in "\n".join(run()) and checked == ["alpha-video"]
    (project / "pages" / "en").mkdir(parents=True, exist_ok=True)
    (project / "pages" / "en" / "faq.md").write_text("# FAQ\n", encoding="utf-8")
    assert "faq.md" not in "\n".join(run()) and sorted(checked) == ["alpha-video", "beta-attention"]
    edit(project / "content" / "glossary.yaml", "latent diffusion", "latent  diffusion")
    run()
    assert sorted(checked) == ["alpha-video", "beta-attention"]
    (project / stage.TextChecks.FILE).unlink()
    assert run() == problems(project)
