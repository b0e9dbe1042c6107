"""The papers listing past one page: pages of LISTING_PAGE_ROWS rows that a reader without JavaScript follows,
and rows.json with every row for listing.js (the browser side: tests/browser/test_listing.py)."""

import json
import re

from digest.load import ROW_UNSHOWN, load_project
from digest.render import LISTING_PAGE_ROWS, Renderer, by_date
from tests.conftest import REPO


def test_a_long_listing_is_paged_and_rows_json_holds_every_row(project):
    loaded, _ = load_project(project)
    paper = loaded.papers["alpha-video"]
    n = 2 * LISTING_PAGE_ROWS + 7
    clones = {f"clone-{i:03d}": paper.model_copy(update={"id": f"clone-{i:03d}"}) for i in range(n)}
    loaded.papers.update(clones)
    papers = by_date(loaded.digested.values())
    for lang in ("en", "zh"):
        out = dict(Renderer(loaded, lang, REPO / "templates").listing("papers", papers, queue=False))
        assert sorted(out) == ["papers/index.md", "papers/page/2.md", "papers/page/3.md", "papers/rows.json"]
        rows = json.loads(out["papers/rows.json"])["rows"]
        assert [r["id"] for r in rows] == [p.id for p in papers]
        first, second, third = out["papers/index.md"], out["papers/page/2.md"], out["papers/page/3.md"]
        # Every paper on exactly one page, in the listing's order; links relative to the page they are on.
        linked = (re.findall(r'<td><a href="([^"]+)/">', first)
                  + [h.removeprefix("../../") for h in re.findall(r'<td><a href="([^"]+)/">', second + third)])
        assert linked == [p.id for p in papers]
        assert first.count("<tr data-title=") == LISTING_PAGE_ROWS == second.count("<tr data-title=")
        assert third.count("<tr data-title=") == len(papers) - 2 * LISTING_PAGE_ROWS > 0
        assert 'href="../../../tags/' in second and 'href="../tags/' in first
        # The filters (and rows.json) on the first page only, with counts over every paper.
        assert 'data-rows="rows.json"' in first and "pd-filters" in first and "pd-filters" not in second
        assert f'<option value="yes">{"implemented" if lang == "en" else "已实现"} (' in first
        assert "search: {exclude: true}" in second and "search: {boost: 0.2}" in first
        # The pager: next from the first page, previous and first from the last.
        assert '<a href="page/2/" rel="next">' in first and 'rel="prev"' not in first
        assert '<a href="../2/" rel="prev">' in third and '<a href="../../">1</a>' in third and 'rel="next"' not in third
        assert '<span aria-current="page">2</span>' in second


def test_a_tag_of_many_papers_is_paged_like_the_listing(project):
    """A tag page holds LISTING_PAGE_ROWS rows (a tag of 583 papers was a 344 KB page); later pages sit at
    tags/<tag>/page/<n>/, with links relative to where they are."""
    loaded, _ = load_project(project)
    paper = loaded.papers["alpha-video"]
    tag = paper.tags[0]
    n = LISTING_PAGE_ROWS + 7
    loaded.papers.update({f"clone-{i:03d}": paper.model_copy(update={"id": f"clone-{i:03d}"}) for i in range(n)})
    tagged = [p.id for p in by_date(loaded.digested.values()) if tag in p.tags]
    for lang in ("en", "zh"):
        out = Renderer(loaded, lang, REPO / "templates").pages()
        assert sorted(rel for rel in out if rel.startswith(f"tags/{tag}")) == [f"tags/{tag}.md",
                                                                               f"tags/{tag}/page/2.md"]
        first, second = out[f"tags/{tag}.md"], out[f"tags/{tag}/page/2.md"]
        linked = (re.findall(r'<td><a href="\.\./\.\./papers/([^"]+)/">', first)
                  + re.findall(r'<td><a href="\.\./\.\./\.\./\.\./papers/([^"]+)/">', second))
        assert linked == tagged and first.count("<tr>") - 1 == LISTING_PAGE_ROWS  # every paper once, in order
        assert f'class="pd-tag" href="../../../../tags/{tag}/"' in second  # other tags' pages, from page 2
        assert '<a href="page/2/" rel="next">' in first and '<a href="../../" rel="prev">' in second
        assert f"({tag}/feed.xml)" in first and "(../feed.xml)" in second  # the tag's feeds, from either page
        assert f"{len(tagged)}" in first.split("---")[1]  # the description counts every paper of the tag


def test_a_collection_links_a_queued_paper_to_the_queue_page_that_lists_it(project):
    loaded, _ = load_project(project)
    renderer = Renderer(loaded, "en", REPO / "templates")
    renderer.queue_pages = {"far-down": 3}
    assert renderer.queue_page("far-down") == "queue/page/3.md"
    assert renderer.queue_page("anything-else") == "queue/index.md"


def test_listing_and_tag_pages_are_made_again_only_when_what_they_show_changed(project):
    """With the keys of the pages on disk (`reuse`), a listing's or a tag's page whose rows and place are as
    before is not made again (None); after one paper's title changes, the pages made again are the ones that show
    it, each as a fresh render makes it, and every page left alone is as a fresh render makes it. The listing's
    first page, whose filters count every paper, is made again when a count changes (the paper's venue)."""
    loaded, _ = load_project(project)
    paper = loaded.papers["alpha-video"]
    loaded.papers.update({f"clone-{i:03d}": paper.model_copy(update={"id": f"clone-{i:03d}"})
                          for i in range(2 * LISTING_PAGE_ROWS + 7)})
    listed = lambda rel: rel.startswith(("papers/index", "papers/page/", "tags/")) and rel != "tags/index.md"  # noqa: E731
    first = Renderer(loaded, "en", REPO / "templates")
    before = dict(first.iter_pages())
    again = dict(Renderer(loaded, "en", REPO / "templates", reuse=first.page_keys).iter_pages())
    assert sum(map(listed, before)) >= 6 and all(again[rel] is None for rel in before if listed(rel))
    edited = by_date(loaded.digested.values())[LISTING_PAGE_ROWS + 3]  # on the listing's second page
    loaded.papers[edited.id] = edited.model_copy(update={"title": edited.title.model_copy(update={"en": "Edited"})})
    after = dict(Renderer(loaded, "en", REPO / "templates", reuse=first.page_keys).iter_pages())
    fresh = dict(Renderer(loaded, "en", REPO / "templates").iter_pages())
    made = sorted(rel for rel in before if listed(rel) and after[rel] is not None)
    assert "papers/index.md" not in made and "papers/page/2.md" in made and "papers/page/3.md" not in made
    assert any(rel.startswith("tags/") for rel in made)
    for rel in before:
        if listed(rel):
            assert (after[rel] if after[rel] is not None else before[rel]) == fresh[rel], rel
            assert ("Edited" in fresh[rel]) == (rel in made), rel
    loaded.papers[edited.id] = loaded.papers[edited.id].model_copy(update={"venue": "Edited Venue"})
    moved = dict(Renderer(loaded, "en", REPO / "templates", reuse=first.page_keys).iter_pages())
    assert moved["papers/index.md"] == dict(Renderer(loaded, "en", REPO / "templates").iter_pages())["papers/index.md"]
    assert "Edited Venue (1)" in moved["papers/index.md"]


def test_an_edit_of_a_papers_prose_leaves_every_listing_and_tag_page_as_it_was():
    """The rows' keys leave out the fields in ROW_UNSHOWN: no listing or tag page may read them. Each of them,
    changed in one of the twelve real records (to another record's text), leaves every such page byte for byte
    as before in both languages, so those pages are kept (None), and the paper's own page is made again."""
    loaded, _ = load_project(REPO)
    listed = lambda rel: rel.startswith(("papers/index", "papers/page/", "papers/rows", "queue/", "tags/"))  # noqa: E731
    edited, other = loaded.papers["latte"], loaded.papers["d-fine"]
    assert set(ROW_UNSHOWN) <= set(type(edited).model_fields)
    changed = {name: getattr(other, name) for name in ROW_UNSHOWN if getattr(other, name) != getattr(edited, name)}
    assert set(changed) >= ROW_UNSHOWN - {"translations"}, changed.keys()
    for lang in ("en", "zh"):
        first = Renderer(loaded, lang, REPO / "templates")
        before = dict(first.iter_pages())
        for name, value in changed.items():
            loaded.papers["latte"] = edited.model_copy(update={name: value})
            fresh = Renderer(loaded, lang, REPO / "templates")
            after = dict(fresh.iter_pages())
            assert [rel for rel in before if listed(rel) and after[rel] != before[rel]] == [], name
            kept = dict(Renderer(loaded, lang, REPO / "templates", reuse=first.page_keys).iter_pages())
            assert all(kept[rel] is None for rel in first.page_keys if listed(rel)), name
            assert kept["papers/latte.md"] is not None, name
        loaded.papers["latte"] = edited
