"""Machine-readable exports: `papers.json` (every record) and an Atom feed per language of added papers."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from digest.load import Project
from digest.render import by_date

# What the reading queue publishes of a record that is not digested: what the source says, nothing guessed.
QUEUE_FIELDS = {"id", "kind", "status", "title", "authors", "published", "venue", "arxiv", "doi", "links"}


def papers_json(project: Project, demos: dict) -> str:
    """Digested records as JSON (the schema's field names), newest first, with each demo's claim outcomes;
    `queue` holds the reading queue's bibliographic facts."""
    records = []
    for paper in by_date(project.digested.values()):
        data = paper.model_dump(mode="json", exclude_none=True)
        run = demos.get(paper.id)
        if run is not None:
            data["demo"] = {"ok": run.ok, "claims": {k: v.outcome for k, v in sorted(run.claims.items())},
                            "metrics": {m.key: m.value for m in run.metrics}}
        records.append(data)
    queue = [p.model_dump(mode="json", exclude_none=True, include=QUEUE_FIELDS) for p in by_date(project.queue.values())]
    text = json.dumps({"papers": records, "queue": queue}, indent=1, ensure_ascii=False, sort_keys=True)
    # The same JSON, but no record text reads as markup if a browser or a careless consumer sniffs it as HTML.
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") + "\n"


def atom_feed(project: Project, lang: str, site_url: str) -> str:
    """An Atom feed of the papers, most recently added first (dates only: stable from build to build)."""
    def when(p):  # a published date may be a year or a month: Atom wants a day, the first it can stand for
        return p.added or p.published.first_day()

    papers = sorted(project.digested.values(), key=lambda p: (when(p), p.id), reverse=True)
    updated = max((when(p) for p in papers), default=None)
    title = "Paper Digest" if lang == "en" else "论文精读"
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">',
             f"  <title>{escape(title)}</title>", f"  <id>{escape(site_url)}</id>",
             f'  <link href="{escape(site_url)}"/>', f'  <link rel="self" href="{escape(site_url)}feed.xml"/>',
             f"  <updated>{updated.isoformat() if updated else '1970-01-01'}T00:00:00Z</updated>"]
    for p in papers:
        url = f"{site_url}papers/{p.id}/"
        lines += ["  <entry>", f"    <title>{escape(p.title.get(lang))}</title>", f"    <id>{escape(url)}</id>",
                  f'    <link href="{escape(url)}"/>',
                  f"    <updated>{when(p).isoformat()}T00:00:00Z</updated>",
                  *[f"    <author><name>{escape(a)}</name></author>" for a in p.authors[:3]],
                  f"    <summary>{escape(p.tldr.get(lang))}</summary>", "  </entry>"]
    return "\n".join(lines + ["</feed>"]) + "\n"
