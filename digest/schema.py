"""The one definition of a record: typed models that validate loaded YAML and export the JSON Schema.

Papers (`content/papers/<id>.yaml`), collections (`content/collections/<id>.yaml`), the tag vocabulary
(`content/tags.yaml`) and the glossary (`content/glossary.yaml`) are all described here; `digest schema`
writes `schema/*.schema.json` from these models so editors check records as they are typed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StringConstraints,
                      WithJsonSchema, model_validator)

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
# New-style (2201.03545) and old-style (cs/0112017, math.GT/0309136) arXiv identifiers, without a version.
ARXIV_PATTERN = r"^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})$"
ArxivId = Annotated[str, StringConstraints(pattern=ARXIV_PATTERN)]
# A translation's stamp: `zh 5e6f7a8b from en 1a2b3c4d` (digest/translations.py)
TranslationStamp = Annotated[str, StringConstraints(pattern=r"^(en|zh) [0-9a-f]{8} from (en|zh) [0-9a-f]{8}$")]
TestNode = Annotated[str, StringConstraints(pattern=r"^reference_impls/[a-z0-9_]+/test_[a-z0-9_]+\.py::test_[a-z0-9_]+$")]
LANGS = ("en", "zh")


STATUSES = ("queued", "draft", "digested")
# What a digested record must have beyond the bibliographic facts every record has (title, authors, date,
# citation); a queued record or a draft may lack them, and is published only on the reading-queue page.
DIGESTED_REQUIRES = ("venue", "tags", "tldr", "summary", "contributions")


@functools.total_ordering
@dataclass(frozen=True)
class PubDate:
    """A publication date with the precision its source gave: a year, a year and month, or a day."""

    year: int
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, value) -> "PubDate":
        """From YAML: 2017 (a number), "2017-06" (text), 2017-06-12 (a date) or any of them as text."""
        if isinstance(value, PubDate):
            return value
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return cls(value.year, value.month, value.day)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not (m := re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value.strip())):
            raise ValueError(f"expected a date YYYY-MM-DD, got {value!r} (or a month YYYY-MM, or a year YYYY)")
        year, month, day = (int(g) if g else None for g in m.groups())
        try:
            dt.date(year, month or 1, day or 1)
        except ValueError:
            raise ValueError(f"expected a date YYYY-MM-DD, got {value!r} (no such day)") from None
        return cls(year, month, day)

    def isoformat(self) -> str:
        """"2017", "2017-06" or "2017-06-12": never more precise than the source."""
        return "-".join([f"{self.year:04d}"] + [f"{n:02d}" for n in (self.month, self.day) if n is not None])

    def first_day(self) -> dt.date:
        """The first day the date can stand for (for formats that need a full date, such as Atom)."""
        return dt.date(self.year, self.month or 1, self.day or 1)

    def _key(self) -> tuple[int, int, int]:
        return (self.year, self.month or 0, self.day or 0)

    def __lt__(self, other) -> bool:
        other = PubDate.parse(other)
        return self._key() < other._key()

    def __eq__(self, other) -> bool:
        if isinstance(other, (PubDate, dt.date)):
            return self._key() == PubDate.parse(other)._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.isoformat()


Published = Annotated[
    PubDate, BeforeValidator(PubDate.parse), PlainSerializer(PubDate.isoformat, return_type=str),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"},
                              {"type": "string", "pattern": r"^\d{4}(-(0[1-9]|1[0-2]))?$"},
                              {"type": "integer", "minimum": 1000, "maximum": 2999}],
                    "description": "first public version (arXiv v1 date for preprints): a day 2024-01-05, "
                                   "a month 2024-01 or a year 2024, as precise as the source"})]


class IncompleteRecord(ValueError):
    """A digested record lacks fields that only queued records and drafts may lack (the loader locates them)."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"a digested record needs {', '.join(missing)}")


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

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        # A record without `status` is digested: then the fields of a written digest are required.
        "if": {"properties": {"status": {"const": "digested"}}},
        "then": {"required": list(DIGESTED_REQUIRES), "properties": {"tags": {"minItems": 1}}}})

    id: Slug = Field(description="lowercase slug, equal to the file name")
    kind: Literal["paper", "article"] = "paper"
    status: Literal[STATUSES] = Field(
        "digested", description="queued: bibliographic facts only (listed on the reading-queue page); draft: "
        "being written (not published); digested: complete, published as a paper page")
    title: Text
    authors: list[NonEmpty] = Field(min_length=1)
    published: Published
    venue: NonEmpty | None = None
    arxiv: ArxivId | None = None
    doi: Annotated[str, StringConstraints(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    links: Links = Links()
    tags: list[Slug] = []
    tldr: Text | None = None
    summary: Text | None = None
    method: Text | None = None
    contributions: TextList | None = None
    results: list[Result] = []
    limitations: Text | None = None
    claims: list[Claim] = []
    impl: Impl | None = None
    citation: Citation
    added: dt.date | None = Field(None, description="when the record joined the knowledge base (feeds)")
    translations: dict[str, TranslationStamp] | None = Field(
        None, description="per bilingual field, the text its translation was made from: `summary: zh 5e6f7a8b from "
                          "en 1a2b3c4d` (written by `digest translations --stamp <id>`)")

    @model_validator(mode="after")
    def _article_has_no_arxiv(self) -> "Paper":
        if self.kind == "article" and self.arxiv:
            raise ValueError("an article has no arXiv id: use kind: paper, or links.article")
        return self

    @model_validator(mode="after")
    def _stamps_name_two_languages(self) -> "Paper":
        for name, stamp in (self.translations or {}).items():
            if stamp.split()[0] == stamp.split()[3]:
                raise ValueError(f"translations.{name}: a text is translated from the other language, not its own")
        return self

    @model_validator(mode="after")
    def _digested_is_complete(self) -> "Paper":
        if self.status == "digested":
            missing = [name for name in DIGESTED_REQUIRES if not getattr(self, name)]
            if missing:
                raise IncompleteRecord(missing)
        return self

    @property
    def digested(self) -> bool:
        return self.status == "digested"


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
