"""`digest new` and `digest start`: a draft record with TODO markers plus a reference implementation skeleton
that already runs (`start` turns a queued record into that draft, keeping its facts).

The skeleton computes a placeholder mechanism (temperature-scaled softmax attention) so that its demo draws a
real figure, its test is a real test and the page builds from the first minute; every file says TODO where the
paper's own mechanism belongs. Nothing existing is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pydantic import ValidationError

from digest import importer
from digest.problems import DigestError, relative
from digest.schema import SLUG, Paper

CLAIM_ID = "rows-sum-to-one"


def impl_name(paper_id: str) -> str:
    """The implementation folder's name: the record id with "-" as "_" (docs/dev/reference-impl-guide.md)."""
    return paper_id.replace("-", "_")


def _record_from_bib(root: Path, bib: Path, key: str, tags, today: dt.date, default_tags) -> importer.Draft:
    """The draft of entry `key` of `bib`; a missing key or a bad entry stops with its located problems."""
    rel = relative(bib, root)
    try:
        text = bib.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"{rel}: cannot read the file ({exc})")
    entries, problems = importer.parse_bib(text, rel)
    entry = next((e for e in entries if e.key == key), None)
    if entry is None:
        import difflib

        failed = [p for p in problems if p.field == key]
        if failed:
            raise DigestError(failed)
        close = difflib.get_close_matches(key, [e.key for e in entries], n=1)
        raise DigestError(f"{rel}: no entry with key `{key}`" + (f"; did you mean `{close[0]}`?" if close else
                          f" (keys: {', '.join(e.key for e in entries[:8])}{' ...' if len(entries) > 8 else ''})"))
    draft, found = importer.draft_from_entry(entry, rel, tags, today, default_tags)
    if draft is None:
        raise DigestError(found)
    return draft


def _blank_record(paper_id: str, arxiv: str | None, tags, today: dt.date, default_tags) -> importer.Draft:
    """A record with TODO text everywhere BibTeX would have helped (with `arxiv`: its id, date and PDF link)."""
    comments = {"tags": "TODO: pick the tags (keys of content/tags.yaml)"}
    if arxiv:
        published = importer.arxiv_month(arxiv).isoformat()
        comments["published"] = "TODO: the day of arXiv v1 (the arXiv id gives the month)"
    else:
        published = today
        comments["published"] = "TODO: the date of the first public version"
    data = {
        "id": paper_id,
        "kind": "paper",
        "title": {"en": f"TODO: the title of arXiv {arxiv}" if arxiv else "TODO: the paper's title",
                  "zh": importer.TITLE_ZH_TODO},
        "authors": ["TODO: First Author", "TODO: Second Author"],
        "published": published,
        "venue": "arXiv" if arxiv else importer.VENUE_TODO,
        "arxiv": arxiv,
        "links": {"pdf": f"https://arxiv.org/pdf/{arxiv}"} if arxiv else None,
        "tags": list(default_tags),
        "added": today,
        "citation": {"type": "misc", "key": paper_id},
    }
    return importer.Draft(importer.ordered(data), comments, paper_id, 0)


def scaffold_record(draft: importer.Draft, paper_id: str) -> importer.Draft:
    """The draft with the writing scaffold: status draft, TODO text for every part of a digest it lacks (title
    in both languages, venue, TL;DR, summary, contributions, method), the placeholder claim and the impl block.
    What the record already says is kept."""
    name = impl_name(paper_id)
    data = dict(draft.data, id=paper_id, status="draft")
    title = dict(data["title"])
    if "en" not in title:
        title["en"] = "TODO: the English title"
    title.setdefault("zh", importer.TITLE_ZH_TODO)
    data["title"] = title
    data.setdefault("venue", importer.VENUE_TODO)
    for part, text in importer.TODO_TEXTS.items():
        data.setdefault(part, {lang: (list(v) if isinstance(v, list) else v) for lang, v in text.items()})
    comments = dict(draft.comments)
    comments.setdefault("status", "set `digested` when no TODO is left: then the paper gets its page")
    if not data.get("tags"):
        data["tags"] = []
        comments["tags"] = "TODO: pick the tags (keys of content/tags.yaml)"
    elif "tags" in comments:  # named by the entry's title or keywords, not chosen yet
        comments["tags"] = "TODO: check the tags (keys of content/tags.yaml)"
    if "impl" in data:  # a record that has an implementation already keeps it, its claims and its method
        return importer.Draft(importer.ordered(data), comments, draft.key, draft.line)
    data.setdefault("method", {
        "en": "TODO: the core mechanism in a few paragraphs, with at least one equation, e.g.\n\n"
              "$$a = \\mathrm{softmax}(q K^\\top / \\sqrt{d})$$\n",
        "zh": "TODO：用几段话讲清核心机制，至少给出一个公式，例如\n\n"
              "$$a = \\mathrm{softmax}(q K^\\top / \\sqrt{d})$$\n"})
    data["claims"] = [{"id": CLAIM_ID,
                       "text": {"en": "TODO: a claim of the paper that a test checks (placeholder: attention "
                                      "weights are a probability distribution over the keys).",
                                "zh": "TODO：一条由测试检验的论文论断（占位：注意力权重是键上的概率分布）。"},
                       "test": f"reference_impls/{name}/test_{name}.py::test_{CLAIM_ID.replace('-', '_')}"}]
    data["impl"] = {"path": f"reference_impls/{name}",
                    "shows": {"en": "TODO: what the implementation demonstrates (the scaffold shows softmax "
                                    "attention, a placeholder).",
                              "zh": "TODO：这份实现展示了什么（脚手架展示的是占位用的 softmax 注意力）。"},
                    "deviations": {"en": "TODO: where the toy departs from the paper (scale, data, omitted parts).",
                                   "zh": "TODO：玩具实现与论文的不同之处（规模、数据、省略的部分）。"}}
    return importer.Draft(importer.ordered(data), comments, draft.key, draft.line)


def new_paper(root: Path, paper_id: str, arxiv: str | None = None, bib: Path | None = None,
              key: str | None = None, today: dt.date | None = None,
              default_tags: tuple[str, ...] = ()) -> list[Path]:
    """Create content/papers/<id>.yaml and reference_impls/<name>/; returns the files written."""
    from digest.load import load_project

    today = today or dt.date.today()
    if not re.match(SLUG, paper_id):
        raise DigestError(f"`{paper_id}` is not a valid id: lowercase letters, digits and single hyphens, "
                          f"e.g. `{importer.record_id(paper_id, 'paper')}`")
    if bool(bib) != bool(key):
        raise DigestError("--from-bib FILE and --key KEY go together")
    if arxiv and bib:
        raise DigestError("give either --arxiv or --from-bib, not both (the BibTeX entry's eprint gives the id)")
    if arxiv is not None:
        normal = importer.arxiv_id(arxiv)
        if normal is None:
            raise DigestError(f"`{arxiv}` is not an arXiv id: expected e.g. 2401.03048 (or arXiv:2401.03048v2, "
                              "or its arxiv.org URL)")
        arxiv = normal
    record = root / "content" / "papers" / f"{paper_id}.yaml"
    folder = root / "reference_impls" / impl_name(paper_id)
    for path in (record, folder):
        if path.exists():
            raise DigestError(f"{relative(path, root)} already exists: digest new never overwrites; "
                              "choose another id, or edit the existing files")
    project, _ = load_project(root)
    unknown = [t for t in default_tags if t not in project.tags]
    if unknown:
        raise DigestError(f"--tag {unknown[0]}: not a tag of content/tags.yaml (known: {', '.join(project.tags)})")
    if bib is not None:
        draft = _record_from_bib(root, bib, key, project.tags, today, default_tags)
    else:
        draft = _blank_record(paper_id, arxiv, project.tags, today, default_tags)
    draft = scaffold_record(draft, paper_id)
    try:
        Paper.model_validate(draft.data)
    except ValidationError as exc:  # the entry had something the schema refuses: say which field
        err = exc.errors()[0]
        raise DigestError(f"{'.'.join(map(str, err['loc']))}: {err['msg']} (value {err.get('input')!r})")
    for other in project.papers.values():  # the same paper twice would be two pages and two BibTeX keys
        if other.arxiv and other.arxiv == draft.data.get("arxiv"):
            raise DigestError(f"arXiv {other.arxiv} is already content/papers/{other.id}.yaml")
        if other.citation.key == draft.data["citation"]["key"]:
            raise DigestError(f"citation key `{other.citation.key}` is already used by content/papers/{other.id}.yaml")
    written = _write_impl(root, folder, paper_id, draft)
    record.parent.mkdir(parents=True, exist_ok=True)
    with record.open("x", encoding="utf-8") as handle:
        handle.write(draft.yaml_text())
    return [record] + written


def start_paper(root: Path, paper_id: str) -> list[Path]:
    """Turn queued record `paper_id` into a draft with the writing scaffold and the implementation skeleton,
    keeping every fact it has; returns the files written (the record is rewritten in place)."""
    import difflib

    from digest.load import load_project

    project, problems = load_project(root)
    paper = project.papers.get(paper_id)
    if paper is None:
        mine = [p for p in problems if p.path == f"content/papers/{paper_id}.yaml" and p.severity == "error"]
        if mine:
            raise DigestError(mine)
        close = difflib.get_close_matches(paper_id, list(project.queue), n=1)
        raise DigestError(f"no record `{paper_id}` in content/papers" + (f"; did you mean `{close[0]}`?" if close
                          else "; `digest status` lists the queue"))
    if paper.status != "queued":
        raise DigestError(f"`{paper_id}` is {'a draft already' if paper.status == 'draft' else 'digested'}: "
                          "`digest start` begins the digest of a queued record")
    folder = root / "reference_impls" / impl_name(paper_id)
    if folder.exists():
        raise DigestError(f"{relative(folder, root)} already exists: digest start never overwrites; move it away "
                          "or add `impl:` to the record by hand")
    src = project.source("paper", paper_id)
    comments = {"tags": "check"} if paper.tags else {}  # tags of an import are suggestions: the scaffold asks
    draft = scaffold_record(importer.Draft(dict(src.data), comments, paper.citation.key, 0), paper_id)
    try:
        Paper.model_validate(draft.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DigestError(f"{src.rel}: {'.'.join(map(str, err['loc']))}: {err['msg']}")
    written = _write_impl(root, folder, paper_id, draft)
    (root / src.rel).write_text(draft.yaml_text(), encoding="utf-8")
    return [root / src.rel] + written


def _write_impl(root: Path, folder: Path, paper_id: str, draft: importer.Draft) -> list[Path]:
    title = draft.data["title"].get("en") or draft.data["title"].get("zh")
    files = _impl_files(paper_id, title, draft.data.get("arxiv"))
    (root / "reference_impls").mkdir(exist_ok=True)
    init = root / "reference_impls" / "__init__.py"
    if not init.exists():
        init.write_text("", encoding="utf-8")
    folder.mkdir()
    written = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written


# ---- the implementation skeleton ---------------------------------------------------------------------------------


def _impl_files(paper_id: str, title: str, arxiv: str | None) -> dict[str, str]:
    name = impl_name(paper_id)
    link = f"https://arxiv.org/abs/{arxiv}" if arxiv else "TODO: the paper's link"
    # The title lands inside docstrings: a LaTeX backslash must stay a backslash, quotes must not end the string.
    title = title.replace("\\", "\\\\").replace('"', "'")
    values = {"NAME": name, "ID": paper_id, "TITLE": title, "LINK": link,
              "TEST": f"test_{CLAIM_ID.replace('-', '_')}"}

    def fill(template: str) -> str:
        return re.sub(r"@(NAME|ID|TITLE|LINK|TEST)@", lambda m: values[m.group(1)], template)

    return {"__init__.py": fill('"""Reference implementation of @TITLE@ (scaffold from `digest new`)."""\n'),
            "model.py": fill(MODEL), "demo.py": fill(DEMO), f"test_{name}.py": fill(TEST),
            "README.md": fill(README)}


MODEL = '''"""TODO: @TITLE@ (@LINK@): a short article on the paper's core mechanism.

This is a scaffold from `digest new`. It implements a placeholder mechanism, temperature-scaled softmax
attention, so that the demo, the tests and the page work from the first minute. Replace it with the
paper's mechanism and rewrite this docstring (docs/dev/reference-impl-guide.md): the key equations, a table
from the paper's symbols to the variable names below, and a "Where this toy departs from the paper" paragraph.

Placeholder equation: a = softmax(q K^T / (sqrt(d) T))

| symbol | variable      | meaning                     |
|--------|---------------|-----------------------------|
| q, K   | `q`, `k`      | queries (n, d), keys (m, d) |
| T      | `temperature` | sharpness of the weights    |
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Config:
    """TODO: the mechanism's hyperparameters (placeholder: the sizes of a toy attention)."""

    n_queries: int = 8
    n_keys: int = 16
    dim: int = 8
    temperature: float = 1.0


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along `axis`; subtracting the max keeps exp() from overflowing without changing the result."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def attention_weights(q: np.ndarray, k: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """TODO placeholder mechanism: weights (n, m) of queries over keys, softmax(q k^T / (sqrt(d) T))."""
    return softmax(q @ k.T / (np.sqrt(q.shape[-1]) * temperature))


def entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of each row of `p` in nats (0 log 0 counts as 0)."""
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)


def sample_inputs(config: Config, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random queries and keys of the configured sizes (synthetic data for the demo and tests)."""
    return rng.normal(size=(config.n_queries, config.dim)), rng.normal(size=(config.n_keys, config.dim))
'''

DEMO = '''"""TODO: the demo of @TITLE@ (scaffold: figures and metrics of the placeholder softmax attention)."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.@NAME@.model import Config, attention_weights, entropy, sample_inputs

SEED = 0
# Knobs a reader may change (digest serve's Run box, the notebook, --seed): allowed ranges.
KNOBS = {"SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"}}
TEMPERATURES = [0.25, 0.5, 1.0, 2.0, 4.0]


def fig_weights(out_dir: Path, rng: np.random.Generator, config: Config) -> tuple[Figure, dict]:
    """Attention weights at T = 1 next to the mean entropy at each temperature (placeholder mechanism)."""
    q, k = sample_inputs(config, rng)
    weights = attention_weights(q, k, config.temperature)
    curve = [float(entropy(attention_weights(q, k, t)).mean()) for t in TEMPERATURES]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    image = left.imshow(weights, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=left, fraction=0.046)
    left.set(xlabel="key", ylabel="query", title=f"weights at T = {config.temperature:g}")
    right.plot(TEMPERATURES, curve, marker="o")
    right.axhline(np.log(config.n_keys), color="grey", linestyle="--", label="log m (uniform)")
    right.set(xscale="log", xlabel="temperature T", ylabel="mean entropy (nats)", title="entropy vs temperature")
    right.set_xticks(TEMPERATURES, [f"{t:g}" for t in TEMPERATURES])
    right.minorticks_off()
    right.legend()
    fig.tight_layout()
    figure = Figure(file=save_svg(fig, out_dir, "weights.svg"),
                    caption_en="TODO placeholder: softmax attention weights of random queries over random keys "
                               "(left) and how their entropy grows with the temperature (right).",
                    caption_zh="TODO 占位：随机查询对随机键的 softmax 注意力权重（左），以及权重的熵随温度升高而"
                               "增大（右）。",
                    function="reference_impls.@NAME@.demo.fig_weights", seed=SEED,
                    params={"n_queries": config.n_queries, "n_keys": config.n_keys, "dim": config.dim})
    return figure, {"weights": weights, "curve": curve}


def run(out_dir: Path) -> DemoResult:
    """TODO: replace the placeholder stages with the paper's (1-3 figures, 3-8 metrics, all computed)."""
    rng = np.random.default_rng(SEED)
    config = Config()
    progress(1, 2, "placeholder attention weights")
    figure, data = fig_weights(out_dir, rng, config)
    progress(2, 2, "metrics")
    row_error = float(np.abs(data["weights"].sum(axis=1) - 1).max())
    return DemoResult(
        metrics=[Metric("row_sum_max_error", row_error, "max |row sum - 1|", "行和与 1 的最大偏差"),
                 Metric("entropy_low_t", data["curve"][0], f"mean entropy at T = {TEMPERATURES[0]:g}",
                        f"T = {TEMPERATURES[0]:g} 时的平均熵", unit="nats"),
                 Metric("entropy_high_t", data["curve"][-1], f"mean entropy at T = {TEMPERATURES[-1]:g}",
                        f"T = {TEMPERATURES[-1]:g} 时的平均熵", unit="nats")],
        figures=[figure])


if __name__ == "__main__":
    main(run)
'''

TEST = '''"""TODO: one test per claim of content/papers/@ID@.yaml, named test_<claim id> (scaffold tests below).

The scaffold's tests check the placeholder softmax attention; replace them with tests of the paper's claims
that would fail if the mechanism were wrong.
"""

import numpy as np

from reference_impls.@NAME@.model import Config, attention_weights, entropy, sample_inputs


def @TEST@():
    """TODO placeholder claim: attention weights are a probability distribution over the keys."""
    q, k = sample_inputs(Config(), np.random.default_rng(0))
    w = attention_weights(q, k)
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1.0)


def test_higher_temperature_spreads_the_weights():
    """TODO placeholder: the entropy of the weights grows with the temperature, towards log(m) (uniform)."""
    config = Config()
    q, k = sample_inputs(config, np.random.default_rng(1))
    h = [entropy(attention_weights(q, k, t)).mean() for t in (0.25, 1.0, 4.0, 1000.0)]
    assert h[0] < h[1] < h[2] < h[3] <= np.log(config.n_keys) + 1e-9
    assert np.isclose(h[3], np.log(config.n_keys), atol=1e-3)
'''

README = '''# @TITLE@: reference implementation

TODO: this folder is a scaffold from `digest new @ID@`. It runs, but it implements a placeholder mechanism
(softmax attention), not the paper's.

## What it shows

TODO: two or three sentences on what the implementation demonstrates.

## Run it

```bash
python -m reference_impls.@NAME@.demo --out out   # figures + demo.json
python -m pytest reference_impls/@NAME@                   # the claims' tests
digest demo @ID@                                          # both, as the site runs them
```

## Where it departs from the paper

TODO: scale, data, omitted parts.
'''
