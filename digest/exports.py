"""Machine-readable exports: `papers.json` (every record) and feeds of added papers, for the whole site and per tag,
in each language, as Atom and as JSON Feed side by side."""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from digest.files import replace_bytes
from digest.load import Project, RecordCache
from digest.render import by_date, by_tag
from digest.schema import Paper

# What the reading queue publishes of a record that is not digested: what the source says, nothing guessed.
QUEUE_FIELDS = {"id", "kind", "status", "title", "authors", "published", "venue", "arxiv", "doi", "links"}


def papers_json(project: Project, demos: dict, site_url: str) -> Iterator[str]:
    """Digested records as JSON (the schema's field names), newest first, with each demo's claim outcomes and
    the address of its page in each language; `queue` holds the reading queue's bibliographic facts.

    One record to a line, keys sorted (a diff of two builds' files shows the records that changed), yielded a
    record at a time: at 10,000 records the file is over 100 MB, more than the build should hold in memory at once.
    (Compact lines use json's C encoder; an indented file took three times as long to write.)"""
    for part in _papers_json_parts(project, demos, site_url):
        yield part if isinstance(part, str) else part[1]()


def _papers_json_parts(project: Project, demos: dict, site_url: str) -> Iterator[str | tuple[str, Callable]]:
    """papers.json in parts: the punctuation between records as text, and each record's line as (its key, a
    function that makes it). The key is a hash of everything the line is made from: the record's own hash
    (`Project.digests`), its demo's outcome, the site's address and this module's code."""
    def line(kind: str, paper: Paper, make: Callable[[], dict]) -> tuple[str, Callable[[], str]]:
        run = demos.get(paper.id) if kind == "paper" else None
        outcome = None if run is None else json.dumps(_demo_json(run), sort_keys=True)
        key = hashlib.sha256(f"{_CODE}\0{site_url}\0{kind}\0{project.digests(paper)[0]}\0{outcome}".encode())
        return key.hexdigest(), lambda: _json_line(make())

    yield '{"papers":['
    yield from _joined(line("paper", p, lambda p=p: _paper_json(p, demos, site_url))
                       for p in by_date(project.digested.values()))
    yield '],\n"queue":['
    yield from _joined(line("queue", p, lambda p=p: p.model_dump(mode="json", exclude_none=True,
                                                                  include=QUEUE_FIELDS))
                       for p in by_date(project.queue.values()))
    yield "]}\n"


# In each papers.json line's key: this module's code and what the records' hashes are made with (the schema).
_CODE = hashlib.sha256(Path(__file__).read_bytes() + RecordCache.CODE.encode()).hexdigest()


def _paper_json(paper: Paper, demos: dict, site_url: str) -> dict:
    data = paper.model_dump(mode="json", exclude_none=True)
    data["page"] = {"en": f"{site_url}papers/{paper.id}/", "zh": f"{site_url}zh/papers/{paper.id}/"}
    run = demos.get(paper.id)
    if run is not None:
        data["demo"] = _demo_json(run)
    return data


def _demo_json(run) -> dict:
    return {"ok": run.ok, "claims": {k: v.outcome for k, v in sorted(run.claims.items())},
            "metrics": {m.key: m.value for m in run.metrics}}


def _json_line(item: dict) -> str:
    """An item of a JSON list as one line. No record text reads as markup if a browser or a careless consumer
    sniffs the file as HTML (`<`, `>` and `&` are escaped in strings)."""
    text = json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _joined(lines: Iterable[tuple[str, Callable]]) -> Iterator[str | tuple[str, Callable]]:
    """The items of a JSON list, each on a line of its own."""
    separator = "\n"
    for item in lines:
        yield separator
        yield item
        separator = ",\n"
    if separator != "\n":
        yield "\n"


def write_papers_json(project: Project, demos: dict, site_url: str, path: Path) -> Path:
    """`papers_json` into the file `path`, written a record at a time; a file that already holds the same bytes
    is left as it is (its time too, so the Markdown trees that copy it see no change).

    A record's line whose key is as in the last file is copied from it instead of made again: the file
    `<path>.lines` lists each line's key and place, with the size and time of the file it describes. After one
    edit of 1,000 records, one line is made (the whole file took a fifth of a second, on the way of every build)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    index_path = path.with_name(path.name + ".lines")
    old_lines: dict[str, tuple[int, int]] = {}
    with contextlib.ExitStack() as stack:
        old = None
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            f = stack.enter_context(path.open("rb"))
            stat = os.fstat(f.fileno())
            if index["file"] == [stat.st_size, stat.st_mtime_ns] and stat.st_size:
                old = stack.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
                old_lines = {key: (start, end) for key, start, end in index["lines"]}
        except (OSError, ValueError, KeyError, TypeError):
            pass
        same, place, lines = old is not None, 0, []
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as out:
                for part in _papers_json_parts(project, demos, site_url):
                    if isinstance(part, str):
                        data = part.encode("utf-8")
                    else:
                        key, make = part
                        found = old_lines.get(key)
                        data = old[found[0]:found[1]] if found is not None else make().encode("utf-8")
                        lines.append((key, place, place + len(data)))
                    if same:
                        same = old[place:place + len(data)] == data
                    out.write(data)
                    place += len(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if same and place == len(old):
            tmp.unlink()
            return path
    tmp.replace(path)
    stat = path.stat()
    replace_bytes(index_path, json.dumps({"file": [stat.st_size, stat.st_mtime_ns], "lines": lines}).encode())
    return path


FEED_TITLES = {"en": "Paper Digest", "zh": "论文精读"}
# Entries per feed: the most recently added papers. A reader polls a feed for what is new; the listing and
# papers.json hold the rest. (Every paper in every feed made 66 feeds of up to 1,000 entries at 1,000 papers:
# 2 MB rewritten on each build.)
FEED_ENTRIES = 50


@dataclass
class Feed:
    """One feed: the papers it lists (most recently added first), its title, its page and its own address."""

    papers: list[Paper]
    lang: str
    title: str
    page_url: str
    feed_url: str  # without the extension: feed.xml (Atom) and feed.json (JSON Feed) sit side by side


def feeds(project: Project, lang: str, site_url: str) -> dict[str, Feed]:
    """The site's feed and one per tag, by their path without extension ("feed", "tags/<tag>/feed"), each with
    its FEED_ENTRIES most recently added papers; `site_url` is this language's address."""
    papers = sorted(project.digested.values(), key=lambda p: (_when(p), p.id), reverse=True)
    out = {"feed": Feed(papers[:FEED_ENTRIES], lang, FEED_TITLES[lang], site_url, site_url + "feed")}
    tagged_by = by_tag(papers)
    for tag_id, tag in sorted(project.tags.items()):
        tagged = tagged_by.get(tag_id, [])
        if tagged:
            out[f"tags/{tag_id}/feed"] = Feed(tagged[:FEED_ENTRIES], lang, f"{FEED_TITLES[lang]}: {tag.get(lang)}",
                                              f"{site_url}tags/{tag_id}/", f"{site_url}tags/{tag_id}/feed")
    return out


def feed_key(project: Project, feed: Feed, site_url: str) -> str:
    """A hash of all that a feed's files are made from: its papers' records, its names and addresses, this code."""
    h = hashlib.sha256(repr((_CODE, site_url, feed.lang, feed.title, feed.page_url, feed.feed_url)).encode())
    for paper in feed.papers:
        h.update(project.digests(paper)[0].encode())
    return h.hexdigest()


def _when(paper: Paper):
    """When a paper was added (dates only: stable from build to build); a published date may be a year or a
    month, and Atom wants a day: the first it can stand for."""
    return paper.added or paper.published.first_day()


def _updated(feed: Feed) -> str:
    day = max((_when(p) for p in feed.papers), default=None)
    return f"{day.isoformat() if day else '1970-01-01'}T00:00:00Z"


def atom_feed(feed: Feed, site_url: str) -> str:
    """The feed as Atom (RFC 4287); `site_url` is this language's address (entries link to its paper pages)."""
    lang = feed.lang
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">',
             f"  <title>{escape(feed.title)}</title>", f"  <id>{escape(feed.page_url)}</id>",
             f'  <link href="{escape(feed.page_url)}"/>',
             f'  <link rel="self" type="application/atom+xml" href="{escape(feed.feed_url)}.xml"/>',
             f"  <updated>{_updated(feed)}</updated>"]
    if not all(p.authors for p in feed.papers):  # RFC 4287: a feed names an author unless every entry does
        lines.append(f"  <author><name>{escape(FEED_TITLES[lang])}</name></author>")
    for p in feed.papers:
        url = f"{site_url}papers/{p.id}/"
        lines += ["  <entry>", f"    <title>{escape(p.title.get(lang))}</title>", f"    <id>{escape(url)}</id>",
                  f'    <link href="{escape(url)}"/>',
                  f"    <updated>{_when(p).isoformat()}T00:00:00Z</updated>",
                  *[f"    <author><name>{escape(a)}</name></author>" for a in p.authors[:3]],
                  f"    <summary>{escape(p.tldr.get(lang))}</summary>", "  </entry>"]
    return "\n".join(lines + ["</feed>"]) + "\n"


def json_feed(feed: Feed, site_url: str) -> str:
    """The same feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    lang = feed.lang
    items = [{"id": f"{site_url}papers/{p.id}/", "url": f"{site_url}papers/{p.id}/", "title": p.title.get(lang),
              "content_text": p.tldr.get(lang), "summary": p.tldr.get(lang),
              "date_published": f"{_when(p).isoformat()}T00:00:00Z",
              "authors": [{"name": a} for a in p.authors[:3]], "tags": list(p.tags), "language": lang}
             for p in feed.papers]
    data = {"version": "https://jsonfeed.org/version/1.1", "title": feed.title, "home_page_url": feed.page_url,
            "feed_url": feed.feed_url + ".json", "language": lang, "items": items}
    # Compact: json's C encoder (an indented dump goes through its Python one, a tenth of a language's
    # render after one edit, for 33 feeds that readers parse anyway).
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
