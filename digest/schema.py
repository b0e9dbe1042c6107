"""The one definition of a record: typed models that validate loaded YAML and export the JSON Schema.

Papers (`content/papers/<id>.yaml`), collections (`content/collections/<id>.yaml`), the tag vocabulary
(`content/tags.yaml`) and the glossary (`content/glossary.yaml`) are all described here; `digest schema`
writes `schema/*.schema.json` from these models so editors check records as they are typed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
ArxivId = Annotated[str, StringConstraints(pattern=r"^\d{4}\.\d{4,5}$")]
TestNode = Annotated[str, StringConstraints(pattern=r"^reference_impls/[a-z0-9_]+/test_[a-z0-9_]+\.py::test_[a-z0-9_]+$")]
LANGS = ("en", "zh")


class Strict(BaseModel):
    """Unknown keys are errors (with a 'did you mean' from the loader)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    """Text in both languages. One may be missing: the page falls back to the other with a notice."""

    en: NonEmpty | None = None
    zh: NonEmpty | None = None

    @model_validator(mode="after")
    def _one_language_at_least(self) -> "Text":
        if self.en is None and self.zh is None:
            raise ValueError("needs text in at least one language (en or zh)")
        return self

    def get(self, lang: str) -> str:
        """The text in `lang`, else the other language's (see `has`)."""
        own = getattr(self, lang)
        return own if own is not None else (self.en if lang == "zh" else self.zh)

    def has(self, lang: str) -> bool:
        return getattr(self, lang) is not None


class TextList(Strict):
    """A list of items (e.g. contributions) in both languages."""

    en: list[NonEmpty] | None = None
    zh: list[NonEmpty] | None = None

    def get(self, lang: str) -> list[str]:
        own = getattr(self, lang)
        return own if own else ((self.en if lang == "zh" else self.zh) or [])

    def has(self, lang: str) -> bool:
        return bool(getattr(self, lang))


class Links(Strict):
    code: Url | None = None
    pdf: Url | None = None
    project: Url | None = None
    openreview: Url | None = None
    article: Url | None = Field(None, description="the web page of an article (kind: article)")


class Result(Strict):
    """One headline number of the paper, with where and how it was measured."""

    benchmark: NonEmpty
    setting: Text | None = None
    metric: NonEmpty
    value: float | int | NonEmpty
    unit: str = ""
    note: Text | None = None


class Claim(Strict):
    """A claim of the paper that the reference implementation checks with one test."""

    id: Slug
    text: Text
    test: TestNode = Field(description="pytest node id, e.g. reference_impls/latte/test_latte.py::test_x")


class Impl(Strict):
    path: Annotated[str, StringConstraints(pattern=r"^reference_impls/[a-z0-9_]+$")]
    shows: Text
    deviations: Text


class Citation(Strict):
    """What BibTeX needs beyond the record's metadata."""

    type: Literal["article", "inproceedings", "misc"]
    key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:\-.]+$")]
    journal: NonEmpty | None = None
    booktitle: NonEmpty | None = None
    publisher: NonEmpty | None = None
    volume: NonEmpty | None = None
    number: NonEmpty | None = None
    pages: NonEmpty | None = None
    year: int | None = Field(None, description="publication year, when it differs from the arXiv year")


class Paper(Strict):
    """One paper (or article) of the knowledge base."""

    id: Slug = Field(description="lowercase slug, equal to the file name")
    kind: Literal["paper", "article"] = "paper"
    title: Text
    authors: list[NonEmpty] = Field(min_length=1)
    published: dt.date = Field(description="first public version (arXiv v1 date for preprints)")
    venue: NonEmpty
    arxiv: ArxivId | None = None
    doi: Annotated[str, StringConstraints(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    links: Links = Links()
    tags: list[Slug] = Field(min_length=1)
    tldr: Text
    summary: Text
    method: Text | None = None
    contributions: TextList
    results: list[Result] = []
    limitations: Text | None = None
    claims: list[Claim] = []
    impl: Impl | None = None
    citation: Citation
    added: dt.date | None = Field(None, description="when the record joined the knowledge base (feeds)")

    @model_validator(mode="after")
    def _article_has_no_arxiv(self) -> "Paper":
        if self.kind == "article" and self.arxiv:
            raise ValueError("an article has no arXiv id: use kind: paper, or links.article")
        return self


class Entry(Strict):
    """A work in a collection, with the label the source gives it (e.g. the series' entry number)."""

    paper: Slug
    label: Text | None = None


class Collection(Strict):
    """A digest issue or a reading series: papers in the source's order."""

    id: Slug
    title: Text
    intro: Text
    source: Text
    date: dt.date
    url: Url | None = None
    papers: list[Entry] = Field(min_length=1)


class Tag(Text):
    """A tag's label in both languages (both required)."""

    en: NonEmpty
    zh: NonEmpty


class Term(Strict):
    """A glossary pair; `note` explains the term on hover; `synonyms` are other names a reader may search for
    (FPGA: 现场可编程门阵列), which find the pages that use the term in either language."""

    en: NonEmpty
    zh: NonEmpty
    note: Text | None = None
    synonyms: TextList | None = None


class Glossary(Strict):
    terms: list[Term]


SCHEMAS = {"paper": Paper, "collection": Collection, "glossary": Glossary}


def json_schema(name: str, tags: list[str] | None = None) -> str:
    """The JSON Schema of one record kind as stable, sorted JSON text; `tags` become the tag enum."""
    schema = SCHEMAS[name].model_json_schema()
    if name == "paper" and tags:
        schema["properties"]["tags"]["items"]["enum"] = sorted(tags)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{name}.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(root: Path, tags: list[str]) -> list[Path]:
    """Write `schema/<kind>.schema.json` for every record kind; returns the paths written."""
    out = []
    for name in SCHEMAS:
        path = root / "schema" / f"{name}.schema.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json_schema(name, tags), encoding="utf-8")
        out.append(path)
    return out
