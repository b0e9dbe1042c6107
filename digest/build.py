"""Build stage: check -> demos -> render -> write Markdown trees -> MkDocs + Material, English and Chinese.

The English site is built at the root of a temporary folder and the Chinese one under its `zh/`; only when both
succeed does the temporary folder replace `site/`, so a failed build leaves the last good site in place.
"""

from __future__ import annotations

import fcntl
import functools
import gc
import hashlib
import importlib.metadata
import itertools
import json
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import contextlib
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator
from urllib.parse import urlsplit

import yaml

from digest import bibtex, exports, search
from digest.compiled import THEME_TEMPLATES, TemplateCache, compile_closure, precompile
from digest.demos import DemoRun, failure_message, run_demo, source_zip
from digest.files import replace_bytes
from digest.load import Loader, Project, load_project
from digest.problems import DigestError, Problem
from digest.render import Renderer, by_date
from digest.translations import check_translations
from digest.validate import TODO, validate

if TYPE_CHECKING:
    from digest.pagecache import PageConverter

LANGS = ("en", "zh")
NAV = {
    "en": ["Home", "Papers", "Reading queue", "Collections", "Tags", "Glossary", "Add a paper"],
    "zh": ["首页", "论文", "待读", "合集", "标签", "术语表", "添加论文"],
}
# What builds the HTML from the Markdown trees: MkDocs + Material, or Zensical (Material's successor, which reads
# the same config); `digest build --engine`.
ENGINES = ("mkdocs", "zensical")
ZH_SITE_NAME = "论文精读 Paper Digest"
# What a build reads besides the generator itself (`digest serve` watches the same).
WATCHED = ("content", "templates", "overrides", "pages", "reference_impls", "mkdocs.yml")
# The site's address (canonical links, sitemaps, feeds, papers.json) comes from `digest build --site-url`, else
# this environment variable (what a deploy workflow sets), else mkdocs.yml's site_url.
SITE_URL_ENV = "DIGEST_SITE_URL"
# A fixed build date keeps sitemap.xml and sitemap.xml.gz byte-identical from one build to the next.
SOURCE_DATE_EPOCH = "1700000000"
LOCK = Path(".cache/build.lock")
THEME_CACHE = Path(".cache/jinja-theme")  # the theme's compiled templates (prepare_config)
SEARCH_OUT = Path(".site.search")  # the search indexes, made while the workers build (`_build_site`)
SEARCH_CACHE = ".cache/search-docs.{lang}.jsonl"  # each paper's search document, by its record (digest/search.py)
SHARED = "shared"  # build/shared/: files both languages' Markdown trees copy (papers.json)
HTML_CACHE = Path(".cache/html")  # each language's pages' converted Markdown, by content (digest/pagecache.py)


@dataclass
class BuildReport:
    site: Path
    site_url: str = ""
    pages: dict[str, int] = field(default_factory=dict)
    demos: dict[str, DemoRun] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    language_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    project: Project | None = None
    dirty: bool = False  # the last site's HTML kept for every page whose Markdown did not change


def check(root: Path, strict: bool = False, meanwhile: Callable[[Project], object] | None = None
          ) -> tuple[Project, list[Problem]]:
    """Load and validate; raises DigestError with every error, returns the project and its warnings.
    `meanwhile`: work for this process while others parse the records (load_project).

    The cyclic garbage collector is off meanwhile: what loads here lives as long as the command, and the
    collector walked it again and again while it grew (10,000 records from their cache: 6.8 s with it, 3.4 s
    without; a parse leaves a few dozen objects of cyclic garbage, collected when it is back on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        project, problems = load_project(root, meanwhile)
        problems += validate(project, strict)
        problems += [p.as_error() if strict else p for p in check_translations(project)]
    finally:
        if enabled:
            gc.enable()
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DigestError(sorted(problems))
    return project, sorted(problems)


def run_demos(project: Project, timeout: float | None, keep_going: bool, echo: Callable[[str], None],
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
            unfinished.append(project.source("paper", paper.id).problem(
                ("impl",), f"the demo of `{paper.id}` still writes TODO in a figure caption or metric label",
                f"replace the scaffold's placeholders in {paper.impl.path}/demo.py, or set `status: draft` until it "
                "is written"))
        if not run.ok:
            failed.append(project.source("paper", paper.id).problem(  # at the record's `impl:` line
                ("impl",), failure_message(paper.id, run.error_tail),
                f"run `digest demo {paper.id} --force` to see it fail; --keep-going builds the rest"))
    if (failed and not keep_going) or unfinished:  # --keep-going never publishes placeholder text
        raise DigestError(failed + unfinished)
    return runs


@dataclass
class SharedOutputs:
    """What both languages publish alike, made once: each record's BibTeX block, papers.bib, papers.json (a file:
    over 100 MB at 10,000 records, which each language's tree copies), Material's colour-scheme script
    (assets/palette.js) and each implementation's notebook and zip."""

    entries: dict[str, str]
    library: str
    papers_json: Path
    site_url: str
    palette_script: bytes
    downloads: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)


def shared_outputs(project: Project, demos: dict[str, DemoRun], site_url: str, folder: Path,
                   write_papers_json: bool = True) -> SharedOutputs:
    """The shared outputs; the files among them are written into `folder` (papers.json later by the caller, with
    `exports.write_papers_json`, when not `write_papers_json`)."""
    papers = by_date(project.digested.values())  # the reading queue has no pages and no entry in papers.bib
    downloads = {}
    for paper_id in demos:
        from digest.notebooks import paper_notebook  # here: nbformat takes a fifth of a second to import

        paper = project.papers[paper_id]
        notebook = paper_notebook(project.root, paper).encode("utf-8")
        downloads[paper_id] = notebook, source_zip(project.root, paper, {f"{paper_id}.ipynb": notebook})
    # Made where each record was parsed, and kept with it in the records cache (Source.bibtex).
    entries = {paper.id: getattr(project.made_from(paper), "bibtex", None) or bibtex.entry_text(paper)
               for paper in papers}
    papers_json = folder / "papers.json"
    if write_papers_json:
        exports.write_papers_json(project, demos, site_url, papers_json)
    return SharedOutputs(entries, bibtex.library_of(list(entries.values())), papers_json, site_url,
                         material_palette_script(),
                         downloads)


def write_docs(project: Project, demos: dict[str, DemoRun], root: Path, docs: Path,
               site_url: str | None = None) -> dict[str, int]:
    """Write both languages' Markdown trees, assets, figures and data files under `docs/<lang>/`."""
    site_url = site_url or resolve_site_url(root)
    shutil.rmtree(docs, ignore_errors=True)
    shared = shared_outputs(project, demos, site_url, docs.parent / SHARED)
    return {lang: write_language(project, demos, root, docs / lang, lang, shared)[0] for lang in LANGS}


def write_language(project: Project, demos: dict[str, DemoRun], root: Path, out: Path, lang: str,
                   shared: SharedOutputs, ready: Callable[[], object] | None = None
                   ) -> tuple[int, set[str], dict[str, os.DirEntry]]:
    """One language's Markdown tree with its assets, figures and data files, brought in line with what the
    records say: only files whose bytes differ are written, files no longer made are removed (so MkDocs' dirty
    build sees by their times which pages changed). Returns the number of pages, the paths changed or removed and
    the files the tree held before (`_walk_files`: what changed is in the second).
    `ready`: called, and returned from, before the shared files are copied (`_build_site` writes them meanwhile)."""
    keys_file = out.parent / f"page-keys.{lang}.json"  # the paper pages' keys of the tree in `out`
    known = _read_json(keys_file) if out.is_dir() else {}
    keys_file.unlink(missing_ok=True)  # until the tree is in line with them again
    listing = dict(_walk_files(out)) if out.is_dir() else {}  # a listing per folder, not a stat per file
    reuse = {rel: key for rel, key in known.items() if rel in listing}
    renderer = Renderer(project, lang, root / "templates", demos, shared.entries, reuse)
    made = 0

    def pages():
        nonlocal made
        for rel, text in renderer.iter_pages():
            made += 1
            yield rel, None if text is None else text.encode("utf-8")

    files: dict[str, bytes | None] = {}  # None: the file on disk is current
    copies: dict[str, Path] = {}
    for page in sorted((root / "pages" / lang).glob("*.md")):
        files[page.name] = page.read_bytes()
    copies.update(_tree(root / "templates" / "assets", "assets"))
    if lang == "en":  # the origin's root: browsers ask for /favicon.ico where a document names no icon (an SVG)
        copies["favicon.ico"] = _material_favicon()
    files["assets/palette.js"] = shared.palette_script  # overrides/partials/javascripts/palette.html
    mathjax = _mathjax_dir()
    for part in ("tex-svg.js", "input/tex/extensions", "ui", "a11y"):
        copies.update(_tree(mathjax / part, f"assets/mathjax/{part}"))
    for paper_id, run in demos.items():
        target = f"assets/demos/{paper_id}"
        for figure in run.figures:
            copies[f"{target}/{figure.file}"] = run.out_dir / figure.file
        paper = project.papers[paper_id]
        notebook, download = shared.downloads[paper_id]
        files[f"{target}/{paper_id}.ipynb"] = notebook
        files[f"{target}/{paper.impl.path.split('/')[-1]}.zip"] = download
    files["papers.bib"] = shared.library.encode("utf-8")
    copies["papers.json"] = shared.papers_json
    here = language_url(shared.site_url, lang)
    for path, feed in exports.feeds(project, lang, here).items():
        # Kept by key, as the paper pages are: an edit of a paper's summary changes none of the 66 feeds.
        key = exports.feed_key(project, feed, here)
        for rel, make in ((f"{path}.xml", exports.atom_feed), (f"{path}.json", exports.json_feed)):
            renderer.page_keys[rel] = key
            files[rel] = None if reuse.get(rel) == key else make(feed, here).encode("utf-8")
    changed = sync_tree(out, itertools.chain(pages(), files.items(), _after(ready)), copies, listing)
    _write(keys_file, json.dumps(renderer.page_keys, sort_keys=True))
    return made, changed, listing


def _after(wait: Callable[[], object] | None) -> Iterator:
    """No item, once `wait()` has returned: put after the files `sync_tree` writes, it holds back the copies."""
    if wait is not None:
        wait()
    yield from ()


def remember_page_key(docs: Path, lang: str, rel: str, key: str) -> None:
    """Record the key of a paper page written into `docs/<lang>/` outside a build (`digest serve`'s quick path)."""
    keys_file = docs / f"page-keys.{lang}.json"
    keys = _read_json(keys_file)
    if keys:
        _write(keys_file, json.dumps({**keys, rel: key}, sort_keys=True))


def _tree(src: Path, prefix: str) -> dict[str, Path]:
    """{prefix/relative path: file} for a file or every file under a folder."""
    if src.is_file():
        return {prefix: src}
    return {f"{prefix}/{p.relative_to(src).as_posix()}": p for p in sorted(src.rglob("*")) if p.is_file()}


def sync_tree(out: Path, files: Iterable[tuple[str, bytes | None]], copies: dict[str, Path],
              listing: dict[str, os.DirEntry]) -> set[str]:
    """Make folder `out` hold exactly `files` ((relative path, contents) pairs, taken one at a time; None: the
    file is current) and `copies` (files copied with their times); returns the relative paths written or removed.
    A file already as wanted is left untouched, times included. `listing`: the files `out` holds (`_walk_files`);
    those not wanted go, and the folders this leaves empty."""
    changed: set[str] = set()
    wanted = set(copies)
    folders: set[Path] = set()  # made or found already: a first build writes a thousand pages into one

    def make_folder(folder: Path) -> None:
        if folder not in folders:
            folder.mkdir(parents=True, exist_ok=True)
            folders.add(folder)

    for rel, data in files:
        wanted.add(rel)
        path = out / rel
        if data is None:
            continue
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                continue
        except OSError:
            make_folder(path.parent)
        path.write_bytes(data)
        changed.add(rel)
    for rel, src in copies.items():
        path, stat = out / rel, src.stat()
        try:
            have = path.stat()
            if have.st_size == stat.st_size and have.st_mtime_ns == stat.st_mtime_ns:
                continue
        except OSError:
            make_folder(path.parent)
        shutil.copy2(src, path)
        changed.add(rel)
    gone = sorted(listing.keys() - wanted)
    for rel in gone:
        (out / rel).unlink(missing_ok=True)
        changed.add(rel)
    for folder in sorted({(out / rel).parent for rel in gone}, key=lambda f: len(f.parts), reverse=True):
        _remove_empty_folders(folder, out)  # innermost first
    return changed


def _walk_files(top: Path) -> Iterator[tuple[str, os.DirEntry]]:
    """(path relative to `top` with / between parts, its folder entry) of every file under `top`, folders sorted
    by name. (pathlib's rglob, is_file and relative_to took a tenth of a second for a language's 1,200 files.)"""
    stack = [("", str(top))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name, reverse=True)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append((prefix + entry.name + "/", entry.path))
            elif entry.is_file():
                yield prefix + entry.name, entry


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _mathjax_dir() -> Path:
    import mathjax  # the django-static-mathjax package: MathJax 3 files, no Django needed to read them

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _material_favicon() -> Path:
    import material  # Material's own icon (a PNG: browsers read it under the .ico name too)

    return Path(material.__file__).parent / "templates" / "assets" / "images" / "favicon.png"


def material_palette_script() -> bytes:
    """The script of the installed Material's partials/javascripts/palette.html, as a file of its own."""
    import material

    partial = Path(material.__file__).parent / "templates" / "partials" / "javascripts" / "palette.html"
    match = re.search(r"<script>(.*?)</script>", partial.read_text(encoding="utf-8"), re.S)
    if match is None:
        raise DigestError(f"{partial}: no <script> found; overrides/partials/javascripts/palette.html expects "
                          "Material's palette script there (a Material version this project does not know)")
    return match.group(1).strip().encode("utf-8") + b"\n"


def mkdocs_settings(root: Path) -> dict:
    """mkdocs.yml's settings, as the project's mapping (a fresh copy: callers may change theirs)."""
    return copy.deepcopy(_parse_settings((root / "mkdocs.yml").read_bytes()))


@functools.lru_cache(maxsize=4)
def _parse_settings(data: bytes) -> dict:
    # libyaml's safe loader, once per text: a build read mkdocs.yml four times with PyYAML's Python loader (0.015 s
    # each, two of them in each language's process).
    return yaml.load(data, Loader=Loader) or {}


def resolve_site_url(root: Path, given: str | None = None) -> str:
    """The English site's address, ending in "/": `given` (--site-url), else $DIGEST_SITE_URL, else mkdocs.yml's."""
    (path, name), url = ("", "--site-url"), given
    if not url:
        (path, name), url = ("", SITE_URL_ENV), os.environ.get(SITE_URL_ENV)
    if not url:
        base = mkdocs_settings(root)
        (path, name), url = ("mkdocs.yml", "site_url"), base.get("site_url") or "http://localhost:8000/"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise DigestError([Problem(path, 0, 0, name, f"expected the address the site is published at, found {url!r}",
                                   "a full http(s) URL such as https://<group>.github.io/<repo>/")])
    return url if url.endswith("/") else url + "/"


def language_url(site_url: str, lang: str) -> str:
    """Where one language's site lives: English at the site's address, Chinese under its zh/."""
    return site_url if lang == "en" else site_url + "zh/"


def site_settings(root: Path, lang: str, site_url: str) -> dict:
    """The settings of one language's site that depend on its address: site_url, the language links (404 pages
    use their absolute `link`, other pages the relative `prefix`, the sitemaps the full `url`) and the scope of
    the reader's preferences."""
    base = mkdocs_settings(root)
    path = urlsplit(site_url).path
    extra = {**(base.get("extra") or {}), "scope": path, "alternate": [
        {"name": "English", "link": path, "lang": "en", "prefix": "" if lang == "en" else "../", "url": site_url},
        {"name": "中文", "link": path + "zh/", "lang": "zh", "prefix": "zh/" if lang == "en" else "",
         "url": language_url(site_url, "zh")}]}
    return {"site_url": language_url(site_url, lang), "extra": extra}


def zh_config(root: Path, build_dir: Path, site_url: str | None = None) -> Path:
    """The Chinese site's config: inherits mkdocs.yml, changes language, nav, search dictionary and links."""
    base = mkdocs_settings(root)
    config = {
        "INHERIT": os.path.relpath(root / "mkdocs.yml", build_dir),
        "site_name": ZH_SITE_NAME,
        **site_settings(root, "zh", site_url or resolve_site_url(root)),
        "theme": {"language": "zh", "custom_dir": os.path.relpath(root / "overrides", build_dir)},
        "nav": zh_nav(base),
    }
    path = build_dir / "mkdocs.zh.yml"
    _write(path, "# Generated by digest build from mkdocs.yml: do not edit.\n"
           + yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


def zh_nav(base: dict) -> list[dict]:
    """mkdocs.yml's navigation with the Chinese section names."""
    return [{NAV["zh"][NAV["en"].index(list(item)[0])]: list(item.values())[0]} for item in base["nav"]]


def zensical_config(root: Path, build_dir: Path, lang: str, site_url: str) -> Path:
    """One language's config for Zensical: mkdocs.yml with that language's settings, written out whole because
    Zensical takes no overrides on its command line and wants the docs and the site under the config's folder."""
    base = mkdocs_settings(root)
    config = {**base, **site_settings(root, lang, site_url), "docs_dir": f"docs/{lang}",
              "site_dir": f"zensical-site/{lang}",
              "theme": {**base["theme"], "language": lang,
                        "custom_dir": os.path.relpath(root / "overrides", build_dir)}}
    if lang == "zh":
        config.update(site_name=ZH_SITE_NAME, nav=zh_nav(base))
    path = build_dir / f"zensical.{lang}.yml"
    _write(path, "# Generated by digest build --engine zensical from mkdocs.yml: do not edit.\n"
           + yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


def zensical_build(config_file: Path, site_dir: Path) -> None:
    """Build one language's site with Zensical (in its own process: its runtime keeps global state) into
    `site_dir`."""
    import importlib.util

    if importlib.util.find_spec("zensical") is None:
        raise DigestError("--engine zensical: Zensical is not installed; `pip install zensical` (README: Zensical)")
    built = config_file.parent / "zensical-site" / config_file.stem.split(".")[-1]
    shutil.rmtree(built, ignore_errors=True)
    result = subprocess.run([sys.executable, "-m", "zensical", "build", "-f", str(config_file)],
                            cwd=config_file.parent, capture_output=True, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    if result.returncode != 0 or not built.is_dir():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise DigestError(f"{config_file.name}: Zensical build failed:\n{tail}")
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    built.rename(site_dir)


def mkdocs_build(config_file: Path, docs_dir: Path, site_dir: Path, dirty: bool = False,
                 compiled: Path | None = None, html_cache: Path | None = None, keep_theme_pages: bool = False,
                 modified: set[str] | None = None, **settings) -> None:
    """Build one language's site with MkDocs + Material. `dirty`: `site_dir` holds the last build's output and
    only the pages whose Markdown is newer than their HTML are converted (MkDocs' own --dirty); the caller has
    removed the output of every file that changed, so the rest is what a clean build would write again.
    `compiled`, `html_cache`: see `prepare_config`; a build that is not dirty prunes the conversions it did not use.
    `keep_theme_pages`: the theme's 404 page and sitemap in `site_dir` are current (`keeps_theme_pages`): not made.
    `modified`: the docs files a dirty build finds modified, known already (`unlink_rewritten`): MkDocs need not
    compare two files' times for each page, twice (`_mkdocs_shortcuts`)."""
    from click import ClickException
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    try:
        config = load_config(config_file=str(config_file), docs_dir=str(docs_dir), site_dir=str(site_dir),
                             **settings)
        converter = prepare_config(config, compiled, html_cache)
        if keep_theme_pages:
            def on_env(env, config, files):
                # After the theme's files were listed (the theme's pages are left out of its static files by name)
                # and before MkDocs renders the theme's pages.
                config.theme.static_templates.difference_update(THEME_PAGES)
                return env

            config.plugins.events["env"].append(on_env)
        with _mkdocs_shortcuts(config.docs_dir, modified):
            build(config, dirty=dirty)
        converter.save(whole=not dirty)
    except (ClickException, ConfigurationError) as exc:  # mkdocs' Abort is a ClickException
        raise DigestError(f"{config_file.name}: MkDocs build of {docs_dir.name} failed: {exc}") from None


@contextlib.contextmanager
def _mkdocs_shortcuts(docs_dir: str, modified: set[str] | None) -> Iterator[None]:
    """While one build runs, two of MkDocs' per-page steps done the same way in less time (at 1,000 papers, about
    0.05 s of each language's build after one edit):

    - a docs file's `is_modified` answered from `modified` (MkDocs compares the source's and the output's times,
      four file-system calls per page per build);
    - a page's canonical and absolute address made by joining strings where `urljoin` would give the same: a
      relative address without scheme, query, fragment or dot segments under a site address that `urljoin`
      leaves as it is (`tests/test_build.py` compares the two).
    """
    from mkdocs.structure.files import File
    from mkdocs.structure.pages import Page

    is_modified, set_canonical_url = File.is_modified, Page._set_canonical_url

    def known_is_modified(file) -> bool:
        if modified is not None and file._content is None and file.src_dir == docs_dir:
            return file.src_uri in modified
        return is_modified(file)

    File.is_modified, Page._set_canonical_url = known_is_modified, quick_canonical_url(set_canonical_url)
    try:
        yield
    finally:
        File.is_modified, Page._set_canonical_url = is_modified, set_canonical_url


def quick_canonical_url(original: Callable) -> Callable:
    """A `Page._set_canonical_url` that joins strings where `original` (MkDocs') gives the same, else calls it."""
    def set_canonical_url(page, base: str | None) -> None:
        url = page.url
        if base and not base.endswith("/"):
            base += "/"
        base_path = _plain_base_path(base) if base else None
        if base_path is None or not _PLAIN_URL.fullmatch(url):
            return original(page, base)
        page.canonical_url, page.abs_url = base + url, base_path + url

    return set_canonical_url


# A relative address of path segments, none of them "." or "..", with no scheme, query or fragment.
_PLAIN_URL = re.compile(r"(?:(?!\.\.?(?:/|$))[^/?#:;%]+/)*(?:(?!\.\.?$)[^/?#:;%]+)?")


@functools.lru_cache(maxsize=8)
def _plain_base_path(base: str) -> str | None:
    """The path of site address `base` (ending in /) if urljoin(base, relative path) is base + path, else None."""
    from urllib.parse import urljoin, urlsplit

    probe = "a/b/"
    if urljoin(base, probe) != base + probe or not re.fullmatch(r"https?://[^/?#]+/(?:[^?#]*/)?", base):
        return None
    return urlsplit(base).path


def prepare_config(config, compiled: Path | None = None, html_cache: Path | None = None) -> PageConverter:
    """What digest changes in a loaded MkDocs configuration: Material's indexing skipped (`without_material_index`),
    each page converted by a `PageConverter` (one Markdown instance; given `html_cache`, a page whose Markdown was
    converted before is not converted again: digest/pagecache.py), the chrome that pages share made once
    (`ChromeCache`), each page's HTML squeezed (`squeeze_html`) and,
    given a folder, the theme's templates compiled once and kept there between builds (Jinja's bytecode cache,
    keyed by each template's source: 90 templates, a tenth of a build after one edit). Returns the converter."""
    from digest.pagecache import ChromeCache, PageConverter  # here: `digest check` does not need MkDocs

    without_material_index(config)
    converter = PageConverter(config, html_cache)
    config.plugins.events["env"].append(ChromeCache().on_env)
    config.plugins.events["pre_page"].append(converter.adopt)
    config.plugins.events["page_context"].insert(0, converter.fill)
    config.plugins.events["post_page"].append(lambda output, page, config: squeeze_html(output))
    config.plugins.events["post_page"].append(converter.release)
    if compiled is not None:
        def on_env(env, config, files):
            env.bytecode_cache = TemplateCache(compiled)
            return env

        config.plugins.events["env"].insert(0, on_env)
        remember_theme_files(config, compiled.parent / "theme-files.json")
    return converter


def remember_theme_files(config, kept: Path) -> None:
    """MkDocs finds the theme's static files in every build by walking the theme's folders (14,510 files, most of
    them Material's icons) and matching each name against a dozen patterns: a twentieth of a second a language.
    The list it finds is kept in the file `kept`, by a key of what it depends on: the theme's folders, the
    versions of the packages that hold them, the names of every file in the others (overrides/), MkDocs' patterns.
    """
    import material
    import mkdocs
    from mkdocs import utils

    theme, get_env = config.theme, config.theme.get_env
    packages = {os.path.realpath(Path(module.__file__).parent): name
                for module, name in ((material, "mkdocs-material"), (mkdocs, "mkdocs"))}

    def key() -> str:
        # What the list depends on, wherever the project is (both languages share one list, and a copied project
        # keeps it): each folder's package and version, or the names of the files in it.
        h = hashlib.sha256(repr((sorted(theme.static_templates), utils.markdown_extensions, sys.version)).encode())
        for folder in map(os.path.realpath, theme.dirs):
            package = next(((name, d) for d, name in packages.items() if folder.startswith(d + os.sep)), None)
            if package is not None:
                name, package_dir = package
                h.update(repr((name, importlib.metadata.version(name), os.path.relpath(folder, package_dir))).encode())
            else:
                for dirpath, dirnames, filenames in sorted(os.walk(folder)):
                    dirnames.sort()
                    h.update(repr((os.path.relpath(dirpath, folder), sorted(filenames))).encode())
        return h.hexdigest()

    def get_env_remembering():
        env = get_env()
        list_templates = env.list_templates

        def listing(extensions=None, filter_func=None):
            if extensions is not None or getattr(filter_func, "__qualname__", "") != \
                    "Files.add_files_from_theme.<locals>.filter":
                return list_templates(extensions, filter_func)
            wanted = key()
            found = _read_json(kept)
            if found.get("key") == wanted and isinstance(found.get("files"), list):
                return found["files"]
            files = list_templates(filter_func=filter_func)
            with contextlib.suppress(OSError):  # the list only saves time
                kept.parent.mkdir(parents=True, exist_ok=True)
                replace_bytes(kept, json.dumps({"key": wanted, "files": files}).encode())
            return files

        env.list_templates = listing
        return env

    theme.get_env = get_env_remembering


# Where whitespace is shown or read: code, text areas, scripts.
_KEEPS_WHITESPACE = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>|<textarea\b.*?</textarea>|<script\b.*?</script>", re.S)
_LINE_INDENT = re.compile(r"\n[ \t\n]+")


def squeeze_html(html: str) -> str:
    """A page without the indentation and blank lines that Material's templates leave between its parts (half a
    KB a page; overrides/main.html squeezes the blocks it can reach, this the rest): a run of spaces, tabs and
    line breaks that follows a line break becomes that one line break, which a browser shows the same. Not
    inside code, text areas or scripts."""
    out, start = [], 0
    for kept in _KEEPS_WHITESPACE.finditer(html):
        out += [_LINE_INDENT.sub("\n", html[start:kept.start()]), kept.group()]
        start = kept.end()
    out.append(_LINE_INDENT.sub("\n", html[start:]))
    return "".join(out)


def without_material_index(config) -> None:
    """Keep Material's search plugin (the header's search box is drawn only when it is configured) but skip its
    full-text indexing of every page, a fifth of a build's time: digest/search.py writes the index the box reads.
    Its `on_config`, which sets up that index (three Jinja environments to look up its language's settings), goes
    too: the header reads only the plugin's `enabled`."""
    plugin = config.plugins.get("material/search")
    if plugin is not None:
        for event, method in (("config", plugin.on_config), ("page_context", plugin.on_page_context),
                              ("post_build", plugin.on_post_build)):
            config.plugins.events[event] = [m for m in config.plugins.events[event] if m != method]


class _DirtyNotice(logging.Filter):
    """MkDocs warns that a dirty build may leave navigation stale (a warning that `strict` turns into a failure).
    Here it cannot: a dirty build runs only when the configuration, theme and navigation are as they were, and
    every page whose Markdown changed is rebuilt (tests/test_build.py compares it with a clean build)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "'dirty' build" not in record.getMessage()


logging.getLogger("mkdocs.commands.build").addFilter(_DirtyNotice())


@contextlib.contextmanager
def build_lock(root: Path):
    """One build of a project at a time (two terminals, or `digest serve` and `digest build`): a second one stops
    with a message instead of mixing its files into the first's. The kernel drops the lock when its process
    ends, so a lock left by a killed build never blocks the next."""
    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DigestError(f"another build of this project is running ({holder}); site/ is left to it: run "
                          "again when it has finished") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def build_site(root: Path, strict: bool = False, keep_going: bool = False, timeout: float | None = None,
               echo: Callable[[str], None] = print, site_url: str | None = None,
               clean: bool = False, engine: str = "mkdocs") -> BuildReport:
    """Everything `digest build` does, under the build lock; returns what it built and how long each stage took.

    When every input is as it was at the last build (same hash), site/ is kept as it is, unless `clean`.
    `engine` builds the HTML: "mkdocs" (MkDocs + Material) or "zensical".
    """
    if engine not in ENGINES:
        raise DigestError(f"no site engine `{engine}`: expected one of {', '.join(ENGINES)}")
    root = root.resolve()
    if not (root / "mkdocs.yml").is_file():
        raise DigestError(f"{root}: no mkdocs.yml here, so no Paper Digest project: run digest in the project's "
                          "folder, or name it with --root")
    with build_lock(root):
        try:
            return _build_site(root, strict, keep_going, timeout, echo, site_url, clean, engine)
        finally:
            gc.unfreeze()  # what the build froze (`_build_site`) is garbage once it is done (`digest serve`)


def _build_site(root: Path, strict: bool, keep_going: bool, timeout: float | None, echo: Callable[[str], None],
                site_url: str | None, clean: bool, engine: str) -> BuildReport:
    site_url = resolve_site_url(root, site_url)
    report, clock = BuildReport(site=root / "site", site_url=site_url), time.perf_counter()

    def lap(stage: str):
        nonlocal clock
        now = time.perf_counter()
        report.seconds[stage] = round(now - clock, 3)
        clock = now

    echo("checking records")
    # jieba's dictionary (a second, for the search stage) loads while the records are parsed, and the project's
    # words go into it and into jieba-rs (the tags and glossary are read before the records).
    project, report.warnings = check(root, strict, meanwhile=lambda early: (search.load_dictionary(),
                                                                              search.add_words(early)))
    gc.freeze()  # the records and caches live as long as the build: the collector need not walk them again
    report.project = project
    lap("check")
    report.demos = run_demos(project, timeout, keep_going, echo)
    lap("demos")
    build_dir = root / "build"
    manifest = build_dir / "site-manifest.json"
    digest = inputs_digest(root, report.demos, site_url, engine, project.file_keys)
    if not clean and report.site.is_dir() and _read_json(manifest).get("inputs") == digest:
        report.pages = _read_json(manifest)["pages"]
        echo("nothing changed since the last build: site/ is current")
        lap("unchanged")
        return report
    # A dirty build reuses the last site's HTML of every page whose Markdown did not change; it needs the same
    # MkDocs side (configuration, theme, navigation, packages) and the Markdown trees that last site was built from.
    # The key leaves the manifest while the trees are rewritten, so a build that dies halfway makes the next one
    # clean.
    last, key = _read_json(manifest), site_key(root, site_url, engine)
    dirty = (not clean and engine == "mkdocs" and last.get("site") == key and (report.site / "zh").is_dir()
             and (build_dir / "docs").is_dir())
    _write(manifest, json.dumps({k: v for k, v in last.items() if k not in ("site", "inputs", "changes")},
                                sort_keys=True))
    report.dirty = dirty
    # A first build: the templates compile on the idle core while this process finishes (digest/compiled.py).
    compiling = compile_templates(root, project, site_url) if not _has_files(root / THEME_CACHE) else None
    echo(f"rendering {len(project.digested)} papers and a reading queue of {len(project.queue)} in "
         f"{len(LANGS)} languages{' (pages whose Markdown is unchanged keep their HTML)' if dirty else ''}")
    # The Markdown trees stay, also for a build that is not dirty: each paper page in them is reused only when
    # its key (every input of the page) is as when it was written, and every other file is compared byte by byte.
    staging = root / ".site.tmp"
    zh_config(root, build_dir, site_url)
    site_dirs = {"en": staging, "zh": root / ".site.tmp.zh"}
    for folder in site_dirs.values():
        shutil.rmtree(folder, ignore_errors=True)
    os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
    indexes = root / SEARCH_OUT
    shutil.rmtree(indexes, ignore_errors=True)
    search_seconds: dict[str, float] = {}

    def write_indexes() -> None:
        for lang in LANGS:
            start = time.perf_counter()
            # Replaces Material's full-text index with the compact one the site's search box reads
            # (digest/search.py); each worker moves its language's into its site when MkDocs is done.
            search.write_index(project, lang, root / "templates", indexes / lang,
                               cache=root / SEARCH_CACHE.format(lang=lang))
            search_seconds[lang] = round(time.perf_counter() - start, 3)

    # What this process does while the language workers render and build (`_in_parallel`), instead of waiting:
    # papers.json, which they copy once their pages are rendered, then both search indexes, which they put in
    # place once MkDocs is done (with 1,000 papers, a fourth of a second of each worker's build after one edit).
    steps = {"papers.json": lambda: exports.write_papers_json(project, report.demos, site_url, shared.papers_json),
             "search": write_indexes}
    previous = root / ".site.old"
    try:
        if dirty and previous.is_dir() and (previous / "zh").is_dir():
            # The site before the last one, which the last (dirty) build left as hard links: each worker brings its
            # language's part in line with the last site (`link_last_site`), a few changed files.
            (previous / "zh").rename(site_dirs["zh"])
            previous.rename(site_dirs["en"])
        shared = shared_outputs(project, report.demos, site_url, build_dir / SHARED, write_papers_json=False)
        # The project's words for jieba. Its dictionary is loaded when a worker first cuts new Chinese text; in a
        # first build it was loaded, and the words added, while the records were parsed, once for both workers
        # (then this finds them there). Where the records were not parsed in other processes (most from their
        # cache, or few: load.PARALLEL_PARSE), the words go in here.
        search.add_words(project)
        search.import_jieba()  # once, for both workers (Material's search plugin imports it)
        results = _in_parallel(LANGS, project, report.demos, root, shared, site_dirs, engine, dirty, steps,
                               last.get("changes") if isinstance(last.get("changes"), dict) else None)
        problems = [p for result in results for p in result.problems]
        if problems:
            raise DigestError(problems)
        site_dirs["zh"].rename(staging / "zh")
    except BaseException:
        for folder in site_dirs.values():
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(indexes, ignore_errors=True)
        if compiling is not None:  # long done: it had the time the workers took
            compiling.join()
    for lang, result in zip(LANGS, results):
        report.pages[lang] = result.pages
        report.language_seconds[lang] = {**result.seconds, "search (build's process)": search_seconds[lang]}
    lap("render+site")
    shutil.rmtree(previous, ignore_errors=True)
    if report.site.exists():
        report.site.rename(previous)
    staging.rename(report.site)
    if not dirty:  # a tree of its own (as much disk as the site): not kept. After a dirty build it is hard links
        shutil.rmtree(previous, ignore_errors=True)  # to the new site but for the changed files: the next one's start
    changes = {lang: result.changes for lang, result in zip(LANGS, results) if result.changes is not None}
    _write(manifest, json.dumps({"inputs": digest, "site": key if engine == "mkdocs" else None,
                                 "pages": report.pages, "changes": changes}, sort_keys=True) + "\n")
    return report


def compile_templates(root: Path, project: Project, site_url: str) -> multiprocessing.Process | None:
    """Compile the generator's templates and the theme's (those MkDocs renders, and what they extend, include or
    import) into their caches, in a process of its own (`precompile`), for the language workers to load."""
    def work() -> None:
        from mkdocs.config import load_config

        renderer = Renderer(project, "en", root / "templates")
        compile_closure(renderer.env, [name for name in renderer.env.list_templates() if name.endswith(".j2")])
        config_file, settings = language_config(root, "en", site_url)
        config = load_config(config_file=str(config_file), docs_dir=str(root / "templates"),
                             site_dir=str(root / "build" / "unused-site"), **settings)
        env = config.theme.get_env()
        env.bytecode_cache = TemplateCache(root / THEME_CACHE)
        compile_closure(env, THEME_TEMPLATES)

    return precompile(work)


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and next(folder.iterdir(), None) is not None


def site_key(root: Path, site_url: str, engine: str) -> str:
    """A hash of what every page's HTML depends on besides its own Markdown: the packages, the generator, the
    configuration (with the navigation), the theme's overrides and the site's address."""
    h = _packages_hash(site_url, engine)
    for folder in (root / "mkdocs.yml", root / "overrides", Path(__file__).parent):
        _hash_files(h, folder)
    return h.hexdigest()


def _packages_hash(site_url: str, engine: str):
    """A sha256 started with what every built page depends on outside the project: the versions of MkDocs,
    Python-Markdown, its extensions, Material and Python, the site's address and the engine."""
    import markdown
    import material
    import mkdocs
    import pymdownx

    return hashlib.sha256(f"{mkdocs.__version__}|{markdown.__version__}|{pymdownx.__version__}|"
                          f"{getattr(material, '__version__', '')}|{sys.version_info[:2]}|{site_url}|{engine}".encode())


def _hash_files(h, folder: Path, known: dict[str, str] | None = None) -> None:
    """Each file's path and bytes (or its hash in `known`, by path) into `h`, in a fixed order."""
    if folder.is_file():
        paths = [str(folder)]
    elif folder.is_dir():
        paths = [entry.path for rel, entry in _walk_files(folder) if "__pycache__/" not in rel]
    else:
        paths = []
    for path in paths:
        key = known.get(path) if known else None
        h.update(path.encode() + (b"\0" + Path(path).read_bytes() if key is None else b"\1" + key.encode()) + b"\0")


# What MkDocs and the search stage write on every build, whatever changed: the theme's pages (but see
# `keeps_theme_pages`) and the search index.
THEME_PAGES = ("sitemap.xml", "sitemap.xml.gz", "404.html")
REWRITTEN = (*THEME_PAGES, "search/search_index.json", "search/terms.json")
# A paper's page (papers/<id>.md): in no navigation (Material's tabs, the 404 page's), only in the sitemap.
_PAPER_PAGE = re.compile(r"papers/(?!index\.md$)[^/]+\.md")


def keeps_theme_pages(docs: Path, site_dir: Path, changed: set[str]) -> bool:
    """Whether a dirty build's theme pages (404 page, sitemaps) are the last site's: they show the navigation and
    list every page's address, so they stay when the Markdown pages that changed are paper pages that were there
    before and still are (an edit, not an addition or a removal). MkDocs' side is as before (the build is dirty)."""
    pages = [rel for rel in changed if rel.endswith(".md")]
    return all(_PAPER_PAGE.fullmatch(rel) and (docs / rel).is_file() and (site_dir / _output_rel(rel)).is_file()
               for rel in pages)


def unlink_rewritten(site_dir: Path, changed: set[str], rewritten: tuple[str, ...],
                     listing: dict[str, os.DirEntry]) -> tuple[set[str], set[str]]:
    """Before a dirty build into hard links of the last site: remove every output that the build will write
    (the changed or removed docs files', any MkDocs finds newer than its output or missing, and `rewritten`), so
    that each write makes a new file and the last site's files, shared with `site/`, are never written into.
    Returns those outputs (paths relative to `site_dir`: all that this build's site may hold differently from
    the last) and the docs files they are made from (those MkDocs' dirty build finds modified: every other
    output is as new as its source). `listing`: the docs files before `changed` were written (`write_language`)."""
    newer = set()
    for rel, entry in listing.items():
        if rel not in changed:
            try:
                if os.stat(site_dir / _output_rel(rel)).st_mtime < entry.stat().st_mtime:
                    newer.add(rel)
            except FileNotFoundError:
                newer.add(rel)
    for rel in sorted(changed | newer):
        _remove_output(site_dir, rel)
    for rel in rewritten:
        (site_dir / rel).unlink(missing_ok=True)
    return {_output_rel(rel) for rel in changed | newer} | set(rewritten), changed | newer


def site_mark(site_dir: Path) -> int | None:
    """Which tree a language's site folder is: the inode of its search index, a file every build writes anew."""
    try:
        return os.stat(site_dir / "search" / "search_index.json").st_ino
    except OSError:
        return None


def link_last_site(site: Path, staging: Path, lang: str, changes: dict | None = None) -> None:
    """One language's part of the last site as hard links in `staging` (no bytes copied), with its files' times for
    MkDocs to compare: the tree already there (the site before the last one, which the last dirty build left as
    hard links but for the files it changed) brought in line, else a tree linked afresh. Each language worker does
    its own part: English is the site but `zh/`.

    `changes`: what the last build said it changed (`LanguageBuild.changes`). When the tree in `staging` is the one
    they were counted from (`site_mark`), only those paths are linked again; else every folder of both trees is
    listed and compared (`mirror_tree`: a tenth of a second or more for a thousand pages' folders), or, with no
    tree there (the first dirty build after one that was not), every file linked into new folders."""
    src, leave_out = (site / "zh", ()) if lang == "zh" else (site, ("zh",))
    if staging.is_dir() and changes and changes.get("from") is not None and changes.get("from") == site_mark(staging):
        for rel in changes["paths"]:
            target = staging / rel
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            if (src / rel).is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(src / rel, target)
            else:
                _remove_empty_folders(target.parent, staging)
    else:
        mirror_tree(src, staging, leave_out)


def mirror_tree(src: Path, dst: Path, leave_out: tuple[str, ...] = ()) -> None:
    """Make folder `dst` hold what `src` holds but the entries named `leave_out` at its top, each file a hard link
    to `src`'s: a file already linked (the same inode) stays, another is linked again, and what `src` lacks goes.
    Each entry's inode comes with the folder listing, so a tree that differs in a few files costs two listings of
    its folders and no file's bytes."""
    with os.scandir(src) as entries:
        wanted = {entry.name: entry for entry in entries if entry.name not in leave_out}
    try:
        os.mkdir(dst)
        have = {}  # a new folder: nothing to compare (a first dirty build links the whole last site this way)
    except FileExistsError:
        with os.scandir(dst) as entries:
            have = {entry.name: entry for entry in entries}
    for name, entry in list(have.items()):
        source = wanted.get(name)
        if source is None or source.is_dir(follow_symlinks=False) != entry.is_dir(follow_symlinks=False):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            del have[name]
    for name, source in wanted.items():
        target, existing = os.path.join(dst, name), have.get(name)
        if source.is_dir(follow_symlinks=False):
            mirror_tree(Path(source.path), Path(target))
        elif existing is None or existing.inode() != source.inode():
            if existing is not None:
                os.unlink(target)
            os.link(source.path, target)


def _remove_output(site_dir: Path, rel: str) -> None:
    """Remove the output of docs file `rel` from a site, and the folders that this leaves empty."""
    path = site_dir / _output_rel(rel)
    path.unlink(missing_ok=True)
    _remove_empty_folders(path.parent, site_dir)


def _remove_empty_folders(folder: Path, top: Path) -> None:
    """Remove `folder` if it is empty, then each folder above it that this leaves empty, up to `top` (kept)."""
    for folder in (folder, *folder.parents):
        if folder == top or not folder.is_dir() or any(folder.iterdir()):
            break
        folder.rmdir()


def _output_rel(rel: str) -> str:
    """Where MkDocs writes the output of docs file `rel` (use_directory_urls: papers/x.md -> papers/x/index.html)."""
    if not rel.endswith(".md"):
        return rel
    stem = rel[:-3]
    if stem == "index" or stem.endswith("/index"):
        return f"{stem}.html"
    return f"{stem}/index.html"


@dataclass
class LanguageBuild:
    pages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # A dirty build's outputs that may differ from the last site's (`unlink_rewritten`), and which tree they are
    # counted from (`site_mark`): the next build brings that tree in line with this one by them (`link_last_site`).
    changes: dict | None = None


_JOB: tuple = ()  # the parent's arguments, inherited by the forked workers instead of being pickled


def _in_parallel(langs, project, demos, root, shared, site_dirs, engine="mkdocs", dirty=False,
                 steps: dict[str, Callable[[], object]] | None = None, last_changes: dict | None = None
                 ) -> list[LanguageBuild]:
    """Both languages at once, one process each (jieba's dictionary and MkDocs' state are per process).
    `steps`: work of this process while the workers build, in order ("papers.json", then "search"); a worker waits
    for each where it needs its result (`_build_language`). Without workers they run first."""
    global _JOB
    steps = steps or {}
    try:
        if os.cpu_count() == 1 or os.environ.get("DIGEST_JOBS") == "1" or \
                "fork" not in multiprocessing.get_all_start_methods():
            for step in steps.values():
                step()
            _JOB = (project, demos, root, shared, site_dirs, engine, dirty, {}, last_changes or {})
            return [_build_language(lang) for lang in langs]
        done = {name: multiprocessing.get_context("fork").Event() for name in steps}
        _JOB = (project, demos, root, shared, site_dirs, engine, dirty, {name: e.wait for name, e in done.items()},
                last_changes or {})

        def meanwhile() -> None:
            for name, step in steps.items():
                step()
                done[name].set()

        # Frozen objects are left out of the workers' garbage collections, which would otherwise write to every
        # object the parent made (the records, the shared outputs) and so copy its memory into each worker.
        gc.freeze()
        return _forked(_build_language, langs, meanwhile)
    finally:
        _JOB = ()


def _forked(work: Callable[[str], LanguageBuild], langs, meanwhile: Callable[[], object] | None = None
            ) -> list[LanguageBuild]:
    """work(lang) for each language in a forked process of its own; their results in order. `meanwhile` runs
    here once they have started (if it raises, they are stopped).

    Not multiprocessing.Pool: its exit stops idle workers with SIGTERM, and CPython drops a signal that reaches a
    forked child before the child's at-fork hook has run, so on a loaded machine a worker that had not started yet
    (the other one took both tasks) never ended and the build waited on it for ever. Here a worker does one thing
    and exits, and a worker that dies (killed, out of memory) is an error instead of a wait."""
    context = multiprocessing.get_context("fork")
    workers = []
    try:
        for lang in langs:
            reader, writer = context.Pipe(duplex=False)
            worker = context.Process(target=_send_result, args=(work, lang, writer), name=f"digest-{lang}")
            worker.start()
            writer.close()  # the worker holds the other end: its exit without a result is an EOFError here
            workers.append((lang, worker, reader))
        if meanwhile is not None:
            meanwhile()
        results = []
        for lang, worker, reader in workers:
            try:
                outcome, value = reader.recv()
            except EOFError:
                worker.join()
                raise DigestError(f"the {lang} build process ended without a result (exit code {worker.exitcode}: "
                                  "killed, or out of memory?)") from None
            if outcome == "raised":  # as Pool.map did: the worker's exception, raised here
                raise value
            results.append(value)
        return results
    finally:  # also on Ctrl-C or SIGTERM: SIGKILL, which no worker can miss; the caller removes their trees
        for _, worker, reader in workers:
            if worker.exitcode is None:
                worker.kill()
            worker.join()
            reader.close()


def _send_result(work: Callable[[str], LanguageBuild], lang: str, writer) -> None:
    """In the worker: ("done", result) or ("raised", exception) to the build's process, which reports it."""
    try:
        outcome = ("done", work(lang))
    except BaseException as exc:  # noqa: BLE001 - every way out is reported by the build's process
        outcome = ("raised", exc)
    try:
        writer.send(outcome)
    except Exception:  # noqa: BLE001 - an exception that does not pickle, or the build's process has gone
        with contextlib.suppress(Exception):
            writer.send(("raised", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
    writer.close()


def _build_language(lang: str) -> LanguageBuild:
    """Render one language's Markdown and build its site with MkDocs + Material (or Zensical)."""
    project, demos, root, shared, site_dirs, engine, dirty, ready, last_changes = _JOB
    result, clock = LanguageBuild(), time.perf_counter()
    docs = root / "build" / "docs"
    try:
        result.pages, changed, listing = write_language(project, demos, root, docs / lang, lang, shared,
                                                        ready.get("papers.json"))
        keep_theme_pages, modified = False, None
        if dirty:
            link_last_site(root / "site", site_dirs[lang], lang, last_changes.get(lang))
            mark = site_mark(site_dirs[lang])  # the last site's: its search index is linked, not yet written again
            keep_theme_pages = keeps_theme_pages(docs / lang, site_dirs[lang], changed)
            rewritten = tuple(rel for rel in REWRITTEN if not (keep_theme_pages and rel in THEME_PAGES))
            outputs, modified = unlink_rewritten(site_dirs[lang], changed, rewritten, listing)
            result.changes = {"from": mark, "paths": sorted(outputs)}
        result.seconds["render"] = round(time.perf_counter() - clock, 3)
        if engine == "zensical":
            zensical_build(zensical_config(root, root / "build", lang, shared.site_url), site_dirs[lang])
        else:
            config, settings = language_config(root, lang, shared.site_url)
            mkdocs_build(config, docs / lang, site_dirs[lang], dirty=dirty, compiled=root / THEME_CACHE,
                         html_cache=root / HTML_CACHE / f"{lang}.pack", keep_theme_pages=keep_theme_pages,
                         modified=modified, **settings)
        result.seconds["site"] = round(time.perf_counter() - clock - result.seconds["render"], 3)
        if "search" in ready:
            ready["search"]()
        made = root / SEARCH_OUT / lang / "search"  # the build's process wrote it (`_build_site`)
        (site_dirs[lang] / "search").mkdir(parents=True, exist_ok=True)
        for path in made.iterdir():
            path.replace(site_dirs[lang] / "search" / path.name)
        result.seconds["search"] = round(time.perf_counter() - clock - sum(result.seconds.values()), 3)
    except DigestError as exc:
        result.problems = exc.problems
    return result


def language_config(root: Path, lang: str, site_url: str) -> tuple[Path, dict]:
    """One language's MkDocs config file and the settings given on top of it (zh_config wrote zh's)."""
    if lang == "en":
        return root / "mkdocs.yml", site_settings(root, "en", site_url)
    return root / "build" / "mkdocs.zh.yml", {}


def inputs_digest(root: Path, demos: dict[str, DemoRun], site_url: str, engine: str = "mkdocs",
                  file_keys: dict[str, str] | None = None) -> str:
    """A hash of everything a build reads: the sources, the demos' outputs, the generator and its packages.
    `file_keys`: hashes of files already read (the records: `Project.file_keys`), used instead of their bytes."""
    h = _packages_hash(site_url, engine)
    folders = [root / name for name in WATCHED] + [Path(__file__).parent]
    folders += [run.out_dir for _, run in sorted(demos.items())]
    for folder in folders:
        _hash_files(h, folder, file_keys)
    return h.hexdigest()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
