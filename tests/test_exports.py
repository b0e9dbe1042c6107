"""Feeds and data files of the built fixture site: the site's feed and one per tag, in each language, as Atom
(read back by feedparser, which readers build on) and as JSON Feed 1.1 beside it; papers.json names each page."""

from __future__ import annotations

import json

import feedparser
import pytest

ATOM = "http://www.w3.org/2005/Atom"
SITE_URL = "http://localhost:8000/"  # mkdocs.yml's, which the fixture build uses


def feed_paths(site):
    return sorted(p.relative_to(site).with_suffix("").as_posix() for p in site.rglob("feed.xml"))


def test_every_tag_with_papers_has_a_feed_in_each_language(built_site):
    site = built_site / "site"
    tagged = sorted(p.parent.name for p in site.glob("tags/*/index.html"))
    assert tagged, "the fixture has tagged papers"
    want = ["feed"] + [f"tags/{t}/feed" for t in tagged]
    assert feed_paths(site) == sorted(want + [f"zh/{p}" for p in want])
    for tag in tagged:  # each tag page links to both of its feeds
        page = (site / "tags" / tag / "index.html").read_text(encoding="utf-8")
        assert 'href="feed.xml"' in page and 'href="feed.json"' in page


@pytest.mark.parametrize("prefix", ["", "zh/"], ids=["en", "zh"])
def test_atom_feeds_parse_with_what_rfc_4287_requires(built_site, prefix):
    site = built_site / "site"
    for path in feed_paths(site / prefix) if prefix else [p for p in feed_paths(site) if not p.startswith("zh/")]:
        raw = (site / prefix / f"{path}.xml").read_bytes()
        parsed = feedparser.parse(raw)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.version == "atom10" and parsed.namespaces.get("") == ATOM
        feed = parsed.feed
        self_url = f"{SITE_URL}{prefix}{path}.xml"
        assert feed.id and feed.title and feed.updated_parsed, path
        assert [link.href for link in feed.links if link.rel == "self"] == [self_url]
        assert feed.language == (prefix.strip("/") or "en")
        assert parsed.entries, path
        for entry in parsed.entries:
            assert entry.id.startswith(f"{SITE_URL}{prefix}papers/") and entry.title and entry.updated_parsed
            assert entry.link == entry.id and entry.summary
            assert entry.get("authors") or feed.get("author"), f"{path}: {entry.id} has no author"
        # A tag's feed lists exactly the papers of its tag page.
        if path.startswith("tags/"):
            page = (site / prefix / path).parent / "index.html"
            listed = {e.id.rsplit("/", 2)[1] for e in parsed.entries}
            html = page.read_text(encoding="utf-8")
            assert all(f"papers/{pid}/" in html for pid in listed)
            assert html.count('href="../../papers/') >= len(listed)


def test_json_feeds_follow_json_feed_1_1_and_match_the_atom_feeds(built_site):
    site = built_site / "site"
    for path in feed_paths(site):
        data = json.loads((site / f"{path}.json").read_text(encoding="utf-8"))
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert data["title"] and data["home_page_url"].startswith(SITE_URL)
        assert data["feed_url"] == f"{SITE_URL}{path}.json"
        for item in data["items"]:  # an item needs an id and content_text or content_html
            assert isinstance(item["id"], str) and item["id"] and (item.get("content_text") or item.get("content_html"))
            assert item["date_published"].endswith("Z") and all(a["name"] for a in item["authors"])
        atom = feedparser.parse((site / f"{path}.xml").read_bytes())
        assert [i["id"] for i in data["items"]] == [e.id for e in atom.entries]
        assert data["title"] == atom.feed.title


def test_papers_json_names_each_page_in_both_languages(built_site):
    records = json.loads((built_site / "site" / "papers.json").read_text(encoding="utf-8"))["papers"]
    for record in records:
        assert record["page"] == {"en": f"{SITE_URL}papers/{record['id']}/",
                                  "zh": f"{SITE_URL}zh/papers/{record['id']}/"}
        assert (built_site / "site" / "papers" / record["id"] / "index.html").is_file()


def test_a_feed_holds_the_most_recently_added_papers_up_to_its_limit():
    import datetime

    from digest.exports import FEED_ENTRIES, feeds
    from digest.load import load_project
    from tests.conftest import REPO

    project, _ = load_project(REPO)
    latte = project.papers["latte"]
    start = datetime.date(2090, 1, 1)  # after every real record's
    clones = {f"clone-{i:03d}": latte.model_copy(update={"id": f"clone-{i:03d}",
                                                         "added": start + datetime.timedelta(days=i)})
              for i in range(FEED_ENTRIES + 7)}
    project.papers.update(clones)
    made = feeds(project, "en", SITE_URL)
    newest = [f"clone-{i:03d}" for i in reversed(range(7, FEED_ENTRIES + 7))]
    assert [p.id for p in made["feed"].papers] == newest
    assert [p.id for p in made[f"tags/{latte.tags[0]}/feed"].papers] == newest


def test_papers_json_after_an_edit_makes_only_the_edited_line_and_equals_a_file_made_whole(tmp_path, monkeypatch):
    """write_papers_json copies each unchanged record's line from the last file (`papers.json.lines` says where);
    the file is the bytes `papers_json` makes, before and after an edit, and an unchanged file keeps its time."""
    from digest import exports
    from digest.load import load_project
    from tests.conftest import make_project

    root = make_project(tmp_path)
    out = tmp_path / "out" / "papers.json"
    made = []
    paper_json = exports._paper_json
    monkeypatch.setattr(exports, "_paper_json", lambda paper, *args: made.append(paper.id) or paper_json(paper, *args))

    def write() -> bytes:
        project, _ = load_project(root)
        whole = "".join(exports.papers_json(project, {}, SITE_URL)).encode("utf-8")
        made.clear()
        exports.write_papers_json(project, {}, SITE_URL, out)
        assert out.read_bytes() == whole
        return whole

    first = write()
    every = sorted(load_project(root)[0].digested)
    assert sorted(made) == every and len(every) >= 2  # every digested record, the first time
    time_before = out.stat().st_mtime_ns
    assert write() == first and made == [] and out.stat().st_mtime_ns == time_before
    record = root / "content" / "papers" / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace("zebrafinch", "hummingbird"), encoding="utf-8")
    edited = write()
    assert made == ["alpha-video"] and b"hummingbird" in edited and edited != first
    assert json.loads(edited)["papers"]  # still one JSON document
    # a file changed behind the build's back is not spliced from: its lines are made again
    out.write_bytes(out.read_bytes().replace(b"hummingbird", b"humming-bird"))
    write()
    assert sorted(made) == every
