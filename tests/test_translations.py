"""Stale translations: stamps record which text each translation was made from; a changed source with an unchanged
translation is reported by `digest check` (both locations), listed by `digest translations`, and flagged on the
translated page with a link to the source language's page."""

from __future__ import annotations

import re

from click.testing import CliRunner

from digest.cli import main
from digest.load import load_project
from digest.render import Renderer
from digest.schema import LANGS
from digest.translations import bilingual_fields, stale_translations
from tests.conftest import REPO

ALPHA = "content/papers/alpha-video.yaml"
ORIGINAL_EN = "Alpha applies latent diffusion to video."


def run(project, *args):
    result = CliRunner().invoke(main, [*args, "--root", str(project)])
    return result.exit_code, result.output


def stamped(project, *extra):
    code, out = run(project, "translations", "--stamp", "alpha-video", *extra)
    assert code == 0, out
    return project / ALPHA


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path, needle):
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_stamping_writes_a_readable_block_and_leaves_the_rest_of_the_record_as_written(project):
    before = (project / ALPHA).read_text(encoding="utf-8")
    path = stamped(project)
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)
    block = after[len(before):]
    assert re.search(r"^  summary: zh [0-9a-f]{8} from en [0-9a-f]{8}$", block, re.M)
    assert re.search(r"^  results\[0\]\.setting: zh [0-9a-f]{8} from en [0-9a-f]{8}$", block, re.M)
    stamped(project)  # stamping again changes nothing
    assert path.read_text(encoding="utf-8") == after
    code, out = run(project, "translations")
    assert code == 0 and "0 stale translation(s)" in out


def test_a_changed_source_warns_with_both_locations_and_strict_fails(project):
    path = stamped(project)
    edit(path, ORIGINAL_EN, "Alpha applies latent diffusion to short videos.")
    code, out = run(project, "check")
    assert code == 0
    zh_line, en_line = line_of(path, "Alpha 把潜在扩散"), line_of(path, "Alpha applies")
    # The translation's location (the zh text) first, then the source's: the lines of the texts themselves.
    assert re.search(rf"{ALPHA}:{zh_line - 1}:\d+: warning: summary\.zh: .*\({ALPHA}:{en_line - 1}:\d+: summary\.en\)",
                     out), out
    assert "digest translations --stamp alpha-video" in out
    code, out = run(project, "check", "--strict")
    assert code == 1 and "error: summary.zh" in out
    code, out = run(project, "translations")
    assert f"{ALPHA}:{zh_line - 1}: summary.zh lags summary.en" in out and "1 stale translation(s)" in out
    # After review the record is stamped again and the warning goes.
    stamped(project)
    assert "summary.zh" not in run(project, "check")[1]


def test_a_translation_updated_with_its_source_is_not_stale(project):
    path = stamped(project)
    edit(path, ORIGINAL_EN, "Alpha applies latent diffusion to short videos.")
    edit(path, "Alpha 把潜在扩散用于视频生成。", "Alpha 把潜在扩散用于短视频生成。")
    loaded, _ = load_project(project)
    assert stale_translations(loaded) == []


def test_either_language_may_be_the_source(project):
    path = stamped(project, "--from", "zh")
    assert "  summary: en " in path.read_text(encoding="utf-8")
    edit(path, "Alpha 把潜在扩散用于视频生成。", "Alpha 把潜在扩散用于短视频生成。")
    loaded, _ = load_project(project)
    assert [(s.field, s.target, s.source) for s in stale_translations(loaded)] == [("summary", "en", "zh")]
    # A field keeps its direction when the record is stamped again, whatever --from says.
    stamped(project)
    assert "  summary: en " in path.read_text(encoding="utf-8")


def test_the_translated_page_says_it_may_lag_and_links_to_the_source_page(project):
    path = stamped(project)
    loaded, _ = load_project(project)
    for lang in LANGS:
        assert "pd-source-page" not in Renderer(loaded, lang, REPO / "templates").pages()["papers/alpha-video.md"]
    edit(path, ORIGINAL_EN, "Alpha applies latent diffusion to short videos.")
    loaded, _ = load_project(project)
    zh = Renderer(loaded, "zh", REPO / "templates").pages()["papers/alpha-video.md"]
    en = Renderer(loaded, "en", REPO / "templates").pages()["papers/alpha-video.md"]
    assert "译文可能滞后" in zh and 'href="../../../papers/alpha-video/" hreflang="en"' in zh
    assert "pd-source-page" not in en


def test_a_malformed_stamp_is_a_located_error(project):
    path = stamped(project)
    edit(path, "  tldr: zh ", "  tldr: zh zzzz ")
    code, out = run(project, "check")
    assert code == 1 and f"{ALPHA}:{line_of(path, '  tldr: zh')}" in out


def test_the_real_records_are_stamped_and_current():
    project, _ = load_project(REPO)
    assert stale_translations(project) == []
    for paper in project.digested.values():
        both = {name for name, (_, value) in bilingual_fields(paper).items()
                if all(value.has(lang) for lang in LANGS)}
        assert both and set(paper.translations or {}) == both, paper.id
