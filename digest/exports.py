"""Machine-readable exports: `papers.json` (every record) and an Atom feed per language of added papers."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from digest.load import Project


def papers_json(project: Project, demos: dict) -> str:
    """Every record as JSON (the schema's field names), newest first, plus each demo's claim outcomes."""
    records = []
    for paper in sorted(project.papers.values(), key=lambda p: (p.published, p.id), reverse=True):
        data = paper.model_dump(mode="json", exclude_none=True)
        run = demos.get(paper.id)
        if run is not None:
            data["demo"] = {"ok": run.ok, "claims": {k: v.outcome for k, v in sorted(run.claims.items())},
                            "metrics": {m.key: m.value for m in run.metrics}}
        records.append(data)
    return json.dumps({"papers": records}, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def atom_feed(project: Project, lang: str, site_url: str) -> str:
    """An Atom feed of the papers, most recently added first (dates only: stable from build to build)."""
    papers = sorted(project.papers.values(), key=lambda p: (p.added or p.published, p.id), reverse=True)
    updated = max((p.added or p.published for p in papers), default=None)
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
                  f"    <updated>{(p.added or p.published).isoformat()}T00:00:00Z</updated>",
                  *[f"    <author><name>{escape(a)}</name></author>" for a in p.authors[:3]],
                  f"    <summary>{escape(p.tldr.get(lang))}</summary>", "  </entry>"]
    return "\n".join(lines + ["</feed>"]) + "\n"
