"""Stale translations: each translated text of a record says which version of the other language it was made from.

A record's `translations` block maps a field to a stamp, `summary: zh 5e6f7a8b from en 1a2b3c4d`: the Chinese
summary (whose text hashed to 5e6f7a8b) was made from the English one (hashed to 1a2b3c4d). Either language may be
the source, field by field. When the source's text changes and the translation's does not, the translation is
stale: `digest check` warns, the translated page says it may lag, `digest translations` lists it, and
`digest translations --stamp <id>` records the current texts once someone has reviewed them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from digest.load import Path_, Project, dotted
from digest.problems import DigestError, Problem
from digest.schema import LANGS, Paper, Text, TextList
from digest.validate import bilingual_texts

LANG_NAMES = {"en": "English", "zh": "Chinese"}
STAMP = re.compile(r"^(en|zh) ([0-9a-f]{8}) from (en|zh) ([0-9a-f]{8})$")


def fingerprint(value: Text | TextList, lang: str) -> str | None:
    """The first 8 hex digits of the SHA-256 of one language's text (a list's items one per line); None if absent."""
    text = getattr(value, lang)
    if not text:
        return None
    joined = "\n".join(text) if isinstance(text, list) else text
    return hashlib.sha256(joined.strip().encode("utf-8")).hexdigest()[:8]


def bilingual_fields(paper: Paper) -> dict[str, tuple[Path_, Text | TextList]]:
    """Every bilingual text of a record, by its dotted field name ("summary", "claims[0].text")."""
    return {dotted(path): (path, text) for path, text in bilingual_texts(paper)}


@dataclass(frozen=True)
class Stale:
    """A translation whose source text changed after it was made."""

    paper: str
    field: str
    target: str  # the translation's language
    source: str
    path: Path_


def stale_translations(project: Project, paper_id: str | None = None) -> list[Stale]:
    """Stale translations of every paper, or of `paper_id` only (looked up, not searched for: the page of each
    paper asks for its own)."""
    out = []
    if paper_id is not None:
        papers = [project.papers[paper_id]] if paper_id in project.papers else []
    else:
        papers = sorted(project.papers.values(), key=lambda p: p.id)
    for paper in papers:
        if not paper.translations:  # most records: no stamps, nothing to walk
            continue
        fields = bilingual_fields(paper)
        for name, stamp in sorted(paper.translations.items()):
            match = STAMP.match(stamp)
            if name not in fields or match is None:
                continue
            target, target_hash, source, source_hash = match.groups()
            path, value = fields[name]
            if fingerprint(value, source) != source_hash and fingerprint(value, target) == target_hash:
                out.append(Stale(paper.id, name, target, source, path))
    return out


def check_translations(project: Project) -> list[Problem]:
    """Warnings: stale translations (with the locations of both texts) and stamps naming no bilingual field."""
    out = []
    for item in stale_translations(project):
        src = project.source("paper", item.paper)
        line, col = src.locate(item.path + (item.source,))
        out.append(src.problem(item.path + (item.target,),
                               f"the {LANG_NAMES[item.source]} text it was translated from changed "
                               f"({src.rel}:{line}:{col}: {item.field}.{item.source}); this translation did not",
                               f"update it, then `digest translations --stamp {item.paper}` marks it current",
                               severity="warning"))
    for paper in sorted((p for p in project.papers.values() if p.translations), key=lambda p: p.id):
        fields = bilingual_fields(paper)
        for name in sorted(paper.translations):
            if name not in fields:
                src = project.source("paper", paper.id)
                out.append(src.problem(("translations", name), f"`{name}` is not a bilingual field of this record",
                                       "`digest translations --stamp " + paper.id + "` rewrites the block",
                                       severity="warning", key=True))
    return out


def stamps(paper: Paper, source: str = "en") -> dict[str, str]:
    """Stamps for every field that has text in both languages, from the current texts. A field keeps the
    direction of its present stamp; a new one is translated from `source`."""
    out = {}
    for name, (_, value) in bilingual_fields(paper).items():
        if not all(value.has(lang) for lang in LANGS):
            continue
        match = STAMP.match((paper.translations or {}).get(name, ""))
        src = match.group(3) if match else source
        target = "zh" if src == "en" else "en"
        out[name] = f"{target} {fingerprint(value, target)} from {src} {fingerprint(value, src)}"
    return out


def stamp_record(project: Project, paper_id: str, source: str = "en") -> Path:
    """Rewrite the record's `translations` block (the rest of the file stays as written); returns the file."""
    if paper_id not in project.papers:
        raise DigestError(f"no record `{paper_id}`; `digest translations` lists the records")
    path = project.root / project.source("paper", paper_id).rel
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"translations\s*:", line)), None)
    if start is not None:
        end = start + 1
        while end < len(lines) and lines[end].startswith(" "):
            end += 1
        del lines[start:end]
    else:
        start = len(lines)
    block = [""] if start and lines[start - 1].strip() else []
    block += ["translations:  # which text each translation was made from: `digest translations --stamp` writes it"]
    block += [f"  {name}: {stamp}" for name, stamp in stamps(project.papers[paper_id], source).items()]
    lines[start:start] = block
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
