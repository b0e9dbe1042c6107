"""Build stage: check -> demos -> render -> write Markdown trees -> MkDocs + Material, English and Chinese.

The English site is built at the root of a temporary folder and the Chinese one under its `zh/`; only when both
succeed does the temporary folder replace `site/`, so a failed build leaves the last good site in place.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from digest import bibtex, exports
from digest.demos import DemoRun, run_demo, source_zip
from digest.load import Project, load_project
from digest.problems import DigestError, Problem
from digest.render import Renderer, by_date
from digest.validate import TODO, validate

LANGS = ("en", "zh")
NAV = {
    "en": ["Home", "Papers", "Reading queue", "Collections", "Tags", "Glossary", "Add a paper"],
    "zh": ["首页", "论文", "待读", "合集", "标签", "术语表", "添加论文"],
}
# A fixed build date keeps sitemap.xml and sitemap.xml.gz byte-identical from one build to the next.
SOURCE_DATE_EPOCH = "1700000000"


@dataclass
class BuildReport:
    site: Path
    pages: dict[str, int] = field(default_factory=dict)
    demos: dict[str, DemoRun] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)


def check(root: Path, strict: bool = False) -> tuple[Project, list[Problem]]:
    """Load and validate; raises DigestError with every error, returns the project and its warnings."""
    project, problems = load_project(root)
    problems += validate(project, strict)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DigestError(sorted(problems))
    return project, sorted(problems)


def run_demos(project: Project, timeout: float, keep_going: bool, echo: Callable[[str], None],
              only: set[str] | None = None) -> dict[str, DemoRun]:
    runs, failed, unfinished = {}, [], []
    papers = [p for p in project.digested.values() if p.impl is not None and (only is None or p.id in only)]
    for i, paper in enumerate(sorted(papers, key=lambda p: p.id), 1):
        echo(f"[demo {i}/{len(papers)}] {paper.id}")
        run = run_demo(project.root, paper, timeout=timeout, echo=echo)
        echo(f"  {paper.id}: {'reused cached outputs' if run.cached else f'ran in {run.seconds:.1f} s'}"
             f"{'' if run.ok else ' - FAILED'}; claims passing {run.claims_passed}/{len(paper.claims)}")
        runs[paper.id] = run
        placeholders = [text for f in run.figures for text in (f.caption_en, f.caption_zh)] + \
            [text for m in run.metrics for text in (m.label_en, m.label_zh)]
        if run.ok and any(TODO.search(text or "") for text in placeholders):  # the page would show them
            unfinished.append(Problem(project.source("paper", paper.id).rel, 0, 0, "impl",
                                  f"the demo of `{paper.id}` still writes TODO in a figure caption or metric label",
                                  f"replace the scaffold's placeholders in {paper.impl.path}/demo.py, or set "
                                  "`status: draft` until it is written"))
        if not run.ok:
            failed.append(Problem(project.source("paper", paper.id).rel, 0, 0, "impl",
                                  f"demo of `{paper.id}` failed:\n{run.error_tail}",
                                  f"run `digest demo {paper.id}` to see it fail; --keep-going builds the rest"))
    if (failed and not keep_going) or unfinished:  # --keep-going never publishes placeholder text
        raise DigestError(failed + unfinished)
    return runs


def write_docs(project: Project, demos: dict[str, DemoRun], root: Path, docs: Path) -> dict[str, int]:
    """Write both languages' Markdown trees, assets, figures and data files under `docs/<lang>/`."""
    shutil.rmtree(docs, ignore_errors=True)
    counts = {}
    mathjax = _mathjax_dir()
    papers = by_date(project.digested.values())  # the reading queue has no pages and no entry in papers.bib
    entries = {paper.id: bibtex.entry_text(paper) for paper in papers}
    library, papers_json = bibtex.library_text(papers), exports.papers_json(project, demos)
    for lang in LANGS:
        out = docs / lang
        pages = Renderer(project, lang, root / "templates", demos, entries).pages()
        for rel, text in pages.items():
            _write(out / rel, text)
        for page in sorted((root / "pages" / lang).glob("*.md")):
            _write(out / page.name, page.read_text(encoding="utf-8"))
        shutil.copytree(root / "templates" / "assets", out / "assets")
        if lang == "en":  # the origin's root: browsers ask for /favicon.ico where a document names no icon (an SVG)
            shutil.copy2(_material_favicon(), out / "favicon.ico")
        for part in ("tex-svg.js", "input/tex/extensions", "ui", "a11y"):
            src = mathjax / part
            (out / "assets" / "mathjax" / part).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, out / "assets" / "mathjax" / part)
        for paper_id, run in demos.items():
            target = out / "assets" / "demos" / paper_id
            target.mkdir(parents=True, exist_ok=True)
            for figure in run.figures:
                shutil.copy2(run.out_dir / figure.file, target / figure.file)
            paper = project.papers[paper_id]
            (target / f"{paper.impl.path.split('/')[-1]}.zip").write_bytes(source_zip(root, paper))
        _write(out / "papers.bib", library)
        _write(out / "papers.json", papers_json)
        _write(out / "feed.xml", exports.atom_feed(project, lang, _site_url(root, lang)))
        counts[lang] = len(pages)
    _write(docs / "jieba_user_dict.txt", "".join(f"{t.zh} 10 n\n" for t in project.glossary.terms
                                                  if " " not in t.zh))
    return counts


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _mathjax_dir() -> Path:
    import mathjax  # the django-static-mathjax package: MathJax 3 files, no Django needed to read them

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _material_favicon() -> Path:
    import material  # Material's own icon (a PNG: browsers read it under the .ico name too)

    return Path(material.__file__).parent / "templates" / "assets" / "images" / "favicon.png"


def _site_url(root: Path, lang: str) -> str:
    url = (yaml.safe_load((root / "mkdocs.yml").read_text(encoding="utf-8")) or {}).get("site_url") or "/"
    return url if lang == "en" else url.rstrip("/") + "/zh/"


def zh_config(root: Path, build_dir: Path) -> Path:
    """The Chinese site's config: inherits mkdocs.yml, changes language, nav, search dictionary and links."""
    base = yaml.safe_load((root / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = [{NAV["zh"][NAV["en"].index(list(item)[0])]: list(item.values())[0]} for item in base["nav"]]
    config = {
        "INHERIT": os.path.relpath(root / "mkdocs.yml", build_dir),
        "site_name": "论文精读 Paper Digest",
        "site_url": _site_url(root, "zh"),
        "theme": {"language": "zh", "custom_dir": os.path.relpath(root / "overrides", build_dir)},
        "extra": {"alternate": [{"name": "English", "link": "/", "lang": "en", "prefix": "../"},
                                {"name": "中文", "link": "/zh/", "lang": "zh", "prefix": ""}]},
        "nav": nav,
    }
    path = build_dir / "mkdocs.zh.yml"
    _write(path, "# Generated by digest build from mkdocs.yml: do not edit.\n"
           + yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


def mkdocs_build(config_file: Path, docs_dir: Path, site_dir: Path) -> None:
    from click import ClickException
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    try:
        config = load_config(config_file=str(config_file), docs_dir=str(docs_dir), site_dir=str(site_dir))
        build(config)
    except (ClickException, ConfigurationError) as exc:  # mkdocs' Abort is a ClickException
        raise DigestError(f"{config_file.name}: MkDocs build of {docs_dir.name} failed: {exc}") from None


def build_site(root: Path, strict: bool = False, keep_going: bool = False, timeout: float = 120,
               echo: Callable[[str], None] = print) -> BuildReport:
    """Everything `digest build` does; returns what it built and how long each stage took."""
    root = root.resolve()
    report, clock = BuildReport(site=root / "site"), time.perf_counter()

    def lap(stage: str):
        nonlocal clock
        now = time.perf_counter()
        report.seconds[stage] = round(now - clock, 3)
        clock = now

    echo("checking records")
    project, report.warnings = check(root, strict)
    lap("check")
    report.demos = run_demos(project, timeout, keep_going, echo)
    lap("demos")
    build_dir = root / "build"
    echo(f"rendering {len(project.digested)} papers and a reading queue of {len(project.queue)} in "
         f"{len(LANGS)} languages")
    report.pages = write_docs(project, report.demos, root, build_dir / "docs")
    lap("render")
    staging = root / ".site.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # Glossary terms as jieba words (长上下文 stays one search term); loaded here, before both sites, because
    # jieba's dictionary is global to the process and both indexes must be segmented alike.
    jieba.load_userdict(str(build_dir / "docs" / "jieba_user_dict.txt"))
    try:
        echo("building the English site")
        mkdocs_build(root / "mkdocs.yml", build_dir / "docs" / "en", staging)
        lap("site_en")
        echo("building the Chinese site")
        mkdocs_build(zh_config(root, build_dir), build_dir / "docs" / "zh", staging / "zh")
        lap("site_zh")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = root / ".site.old"
    shutil.rmtree(old, ignore_errors=True)
    if report.site.exists():
        report.site.rename(old)
    staging.rename(report.site)
    shutil.rmtree(old, ignore_errors=True)
    return report
