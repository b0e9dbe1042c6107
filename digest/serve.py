"""`digest serve`: build, serve site/ on 127.0.0.1, rebuild when a source changes, and reload the open pages.

After an edit that touches paper records only, their pages and the listing's rows (`papers/rows.json`, from which
the listing draws its rows in the browser) are rebuilt first (`digest/incremental.py`) and the open pages reload;
the full build follows and brings the listing's HTML pages, tag pages, feeds and search up to date. A
failed build keeps the last good site and shows its problems (file:line) in the open pages.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import threading
from collections import Counter
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from digest.build import (LANGS, WATCHED, BuildReport, build_site, language_config, language_url,
                          remember_page_key)
from digest.problems import DigestError, Problem
from digest.runs import Runner, with_runs

CHANGES_PATH = "/__digest__/changes"  # the long poll that the injected script waits on
RELOAD_SCRIPT = Path(__file__).with_name("live_reload.js")


def scratch(name: str) -> bool:
    """An editor's or a tool's scratch file or folder (vim's swap, a backup, emacs' autosave, a temporary file of a
    save that writes and then renames over the source, .pytest_cache): not a source. A save through one is seen
    when the source itself changes (the rename)."""
    return name.startswith((".", "#")) or name.endswith(("~", ".swp", ".swx", ".tmp")) or name == "__pycache__"


def snapshot(root: Path) -> dict[str, float]:
    """Modification times of every watched file (polling: no extra dependency, fine for a few thousand files)."""
    times = {}
    for name in WATCHED:
        path = root / name
        if path.is_file():
            times[str(path)] = path.stat().st_mtime
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not scratch(d))
            for file in files:
                if not scratch(file):
                    full = os.path.join(folder, file)
                    times[full] = os.stat(full).st_mtime
    return times


class Changes:
    """When a change of the watched files (`snapshot`) is built: at once when a file's close woke the loop
    (`watch`), else once the poll has seen it hold still for one interval. A poll may land while an editor has
    truncated a record and not yet written it: building that showed a failed build for a moment, then the edit."""

    def __init__(self, seen: dict[str, float]):
        self.seen, self.polled = seen, None

    def ready(self, now: dict[str, float], woken: bool) -> bool:
        if now == self.seen:
            return False
        if not woken and now != self.polled:
            self.polled = now
            return False
        self.seen, self.polled = now, None
        return True


def watch(root: Path, wake: threading.Event):
    """Set `wake` as soon as a watched file is written and closed, moved or removed: inotify and its kin through
    watchdog (MkDocs' own dependency, what `mkdocs serve` watches with). `snapshot` stays the measure of what
    changed; this only ends the poll's wait early, so a save reaches the open page without waiting up to an
    interval. A file's creation does not wake it (the file is still empty; its close follows), nor does a read
    (every build reads every record). Where the system reports no close (macOS, Windows), a write wakes it, as
    the poll would see it. Returns the running observer, or None where none starts (polling alone)."""
    try:
        from watchdog.events import (DirDeletedEvent, DirMovedEvent, FileClosedEvent, FileDeletedEvent,
                                     FileModifiedEvent, FileMovedEvent, FileSystemEventHandler)
        from watchdog.observers import Observer
    except ImportError:  # an old watchdog, without FileClosedEvent
        return None
    observer = Observer()
    kinds = (FileClosedEvent, FileDeletedEvent, FileMovedEvent, DirDeletedEvent, DirMovedEvent)
    if "inotify" not in type(observer).__module__:
        kinds += (FileModifiedEvent,)
    top_level_files = {name for name in WATCHED if not (root / name).is_dir()}

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            paths = [p for p in (event.src_path, getattr(event, "dest_path", "")) if p]
            if type(event) in kinds and any(
                    (os.path.dirname(p) != str(root) or os.path.basename(p) in top_level_files)
                    and not any(scratch(part) for part in os.path.relpath(p, root).split(os.sep)) for p in paths):
                wake.set()

    def schedule(path: Path, recursive: bool) -> None:
        try:  # the events asked of the system: without opens and reads (watchdog 4 and later)
            observer.schedule(Wake(), str(path), recursive=recursive, event_filter=list(kinds))
        except TypeError:
            observer.schedule(Wake(), str(path), recursive=recursive)

    try:
        for name in WATCHED:
            if (root / name).is_dir():
                schedule(root / name, recursive=True)
        schedule(root, recursive=False)  # mkdocs.yml
        observer.start()
    except OSError:  # no inotify watches left, say: the poll still sees every change
        observer.stop()
        return None
    return observer


class BuildState:
    """What the open pages wait on: a version that each finished (re)build bumps, its problems, and the pages it
    changed (None: any page may have changed)."""

    KEPT = 100  # versions whose changed pages are remembered: a page further behind reloads

    def __init__(self):
        self.version, self.problems = 0, []
        self.changed: dict[int, list[str] | None] = {}  # the pages each recent version changed (None: any)
        self.waiting: Counter[str] = Counter()  # the open pages waiting for the next version now, by path
        self.reloaded = 0  # the newest version that an open page has loaded and asked after
        self._changed = threading.Condition()

    def publish(self, problems: list[Problem], pages: list[str] | None = None) -> None:
        """A new version: with `pages`, only the open pages at those paths reload to it."""
        with self._changed:
            self.version += 1
            self.problems = [p.format() for p in problems]
            self.changed[self.version] = list(pages) if pages is not None else None
            self.changed.pop(self.version - self.KEPT, None)
            self._changed.notify_all()

    def pages_since(self, since: int) -> list[str] | None:
        """The pages changed after version `since` (None: any), so a page that missed a version misses nothing."""
        if not 0 <= since <= self.version:  # a page from before serve started, or from another serve
            return None
        pages: set[str] = set()
        for version in range(since + 1, self.version + 1):
            if self.changed.get(version) is None:
                return None
            pages.update(self.changed[version])
        return sorted(pages)

    def wait(self, since: int, timeout: float, page: str = "", loaded: bool = False) -> dict:
        """Until the version is no longer `since` (or `timeout`): the answer of an open page's long poll. `page`:
        its path; `loaded`: its first ask since it loaded."""
        with self._changed:
            if loaded and since == self.version > self.reloaded:
                self.reloaded = since
                self._changed.notify_all()
            self.waiting[page] += 1
            try:
                self._changed.wait_for(lambda: self.version != since, timeout)
            finally:
                self.waiting[page] -= 1
                if not self.waiting[page]:
                    del self.waiting[page]
            return {"version": self.version, "problems": self.problems, "pages": self.pages_since(since)}

    def open_among(self, pages: list[str]) -> bool:
        """Whether a page at one of these paths is open (waiting for a change)."""
        with self._changed:
            return any(self.waiting.get(page) for page in pages)

    def wait_for_reload(self, timeout: float) -> bool:
        """Until an open page has loaded the current version and asks after it (True), or `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.reloaded >= self.version, timeout)


class Handler(SimpleHTTPRequestHandler):
    """Static files of site/, HTML pages with the live-reload script, and the routes in `routes`."""

    routes = {CHANGES_PATH: "send_changes"}  # path -> method name: other endpoints register here
    state: BuildState

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):
        route = self.routes.get(urlsplit(self.path).path)
        if route:
            return getattr(self, route)()
        page = self.html_page()
        if page is None:
            return super().do_GET()
        self.send_bytes(page.read_bytes().replace(b"</body>", self.reload_script() + b"</body>", 1),
                        "text/html; charset=utf-8")

    def html_page(self) -> Path | None:
        """The HTML file a GET names (a folder URL ending in / means its index.html), else None."""
        path = urlsplit(self.path).path
        file = Path(self.translate_path(path))
        if path.endswith("/"):
            file = file / "index.html"
        return file if file.suffix == ".html" and file.is_file() else None

    def reload_script(self) -> bytes:
        snapshot = json.dumps({"version": self.state.version, "problems": self.state.problems,
                               "url": CHANGES_PATH}, ensure_ascii=False).replace("<", "\\u003c")
        return (f"<script>window.digestServe = {snapshot};\n{RELOAD_SCRIPT.read_text(encoding='utf-8')}"
                f"</script>").encode("utf-8")

    def send_changes(self) -> None:
        """Answer when the site changes (or after 25 s): the new version and the problems of a failed build."""
        query = parse_qs(urlsplit(self.path).query)
        since = query.get("since", ["-1"])[0]
        number = since.lstrip("-").isdigit() and len(since) < 16  # a version, not a 5,000-digit int() to refuse
        body = self.state.wait(int(since) if number else -1, timeout=25,
                               page=query.get("page", [""])[0][:2048], loaded="loaded" in query)
        self.send_bytes(json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json")

    def end_headers(self):
        """Files of the site are cached only after asking whether they changed (If-Modified-Since): a preview
        changes under the browser (the listing's rows.json after an edit). HTML pages and answers that say
        otherwise (send_bytes: not stored) keep theirs. The base class buffers this answer's header lines."""
        if not any(line.lower().startswith(b"cache-control:") for line in getattr(self, "_headers_buffer", [])):
            self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_bytes(self, body: bytes, content_type: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class PreviewServer(ThreadingHTTPServer):
    """The server of `digest serve`: one thread per connection, and no traceback when a browser leaves mid-answer
    (a page that reloads drops its wait for changes); any other failure to answer is one line on stderr."""

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"digest serve: could not answer {client_address[0]}:{client_address[1]}: "
                  f"{type(error).__name__}: {error}", file=sys.stderr)


class Preview:
    """The last good build, kept in memory so that an edited record's pages are rebuilt on their own."""

    def __init__(self, root: Path, echo: Callable[[str], None], site_url: str):
        self.root, self.echo, self.site_url = root, echo, site_url
        self.report: BuildReport | None = None
        self.builders: dict = {}
        self.renderers: dict = {}  # the last `paper_pages`' renderers, for `listing_rows`

    def full_build(self) -> list[Problem]:
        """The whole site, as `digest build` does it; returns the problems of a failed build."""
        try:
            self.report = build_site(self.root, keep_going=True, echo=self.echo, site_url=self.site_url)
        except DigestError as exc:
            return exc.problems
        self.builders = {}
        return []

    def prepare(self) -> None:
        """Load each language's MkDocs state now, so that the next edit waits for none of it."""
        from digest import search
        from digest.incremental import PageBuilder

        if self.builders or self.report is None:
            return
        # jieba's dictionary and jieba-rs with the project's words (the build gave them: add_words), in this process:
        # the builds after each edit fork their workers from it, so a worker that cuts new Chinese text loads neither.
        search.dictionary()
        search.segmenter()
        for lang in LANGS:
            config, settings = language_config(self.root, lang, self.site_url)
            site = self.root / "site" if lang == "en" else self.root / "site" / "zh"
            self.builders[lang] = PageBuilder(config, self.root / "build" / "docs" / lang, site, **settings)
            # Rebuilding one page now (the same bytes again) imports and warms what the next edit would wait on:
            # the highlighter, the theme's templates, jieba's dictionary.
            for paper_id in sorted(self.report.project.digested)[:1]:
                self.builders[lang].build_page(f"papers/{paper_id}.md")

    def paper_pages(self, changed: list[Path]) -> list[Problem] | None:
        """Rebuild the pages of edited paper records; None when the change needs the full build to show."""
        from digest.load import load_paper
        from digest.render import Renderer

        report = self.report
        if report is None or not changed or any(p.parent != self.root / "content" / "papers" for p in changed):
            return None
        project = report.project
        papers = {}
        for path in changed:
            old = project.digested.get(path.stem)
            if old is None or not path.is_file():
                return None  # a new, deleted or queued record changes listings first: the full build shows it
            paper, problems = load_paper(path, self.root)
            if [p for p in problems if p.severity == "error"]:
                return problems
            if paper.status != "digested":
                return None
            papers[paper.id] = paper
        project = dataclasses.replace(project, papers={**project.papers, **papers})
        self.prepare()
        docs = self.root / "build" / "docs"
        self.renderers = {lang: Renderer(project, lang, self.root / "templates", report.demos) for lang in LANGS}
        for lang, renderer in self.renderers.items():
            for paper in papers.values():
                rel = f"papers/{paper.id}.md"
                (docs / lang / rel).write_text(renderer.paper_page(paper), encoding="utf-8")
                remember_page_key(docs, lang, rel, renderer.paper_page_key(paper))
                self.builders[lang].build_page(rel)
        return []

    def listing_rows(self) -> None:
        """After `paper_pages` (whose pages reload meanwhile): the listing's rows as the full build will write
        them, docs first, then the site (newer, so MkDocs' dirty build leaves the copy in the site alone)."""
        docs = self.root / "build" / "docs"
        for lang, renderer in self.renderers.items():
            rows = renderer.listing_rows(renderer.sorted_papers(), queue=False).encode("utf-8")
            for folder in (docs / lang, Path(self.builders[lang].config.site_dir)):
                (folder / "papers" / "rows.json").write_bytes(rows)


def serve(root: Path, port: int, echo: Callable[[str], None], on_problems: Callable,
          interval: float = 0.2, stop: threading.Event | None = None) -> None:
    root = root.resolve()
    # Built for the address it is served at: 404 pages link from the site's address, not from here.
    state, preview = BuildState(), Preview(root, echo, site_url=f"http://127.0.0.1:{port}/")

    def report(problems: list[Problem]) -> None:
        if problems:
            on_problems(problems)
            echo("build failed: still serving the last good site (the open pages show the problems)")
        else:
            echo(f"serving http://127.0.0.1:{port}/ (English) and http://127.0.0.1:{port}/zh/ (中文)")
        state.publish(problems)

    # What the first build reads is noted, and watched, before it starts: an edit saved while it runs, or just after
    # the site is served, differs from `seen` and is built next.
    stop, wake = stop or threading.Event(), threading.Event()
    seen = snapshot(root)
    observer = watch(root, wake)
    report(preview.full_build())
    (root / "site").mkdir(exist_ok=True)
    runner = Runner(root, port)  # the Run buttons of paper pages (digest/runs.py)
    handler = with_runs(type("SiteHandler", (Handler,), {"state": state}), runner)
    server = PreviewServer(("127.0.0.1", port), functools.partial(handler, directory=str(root / "site")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=lambda: (stop.wait(), wake.set()), daemon=True).start()  # a stop ends the wait too
    try:
        preview.prepare()
        changes = Changes(seen)
        while not stop.is_set():
            woken = wake.wait(interval)
            wake.clear()
            if stop.is_set():
                break
            now, seen = snapshot(root), changes.seen
            if not changes.ready(now, woken):
                continue
            changed = sorted({Path(name) for name, _ in set(now.items()) ^ set(seen.items())})
            echo(f"changed: {', '.join(p.relative_to(root).as_posix() for p in changed[:3])}"
                 f"{' ...' if len(changed) > 3 else ''}; rebuilding")
            try:
                quick = preview.paper_pages(changed)
            except DigestError as exc:
                quick = exc.problems
            if quick:
                report(quick)
                continue
            if quick is not None:
                # The edited papers' pages are current: they reload first, alone (the other open pages would compete
                # with them), and load before the full build takes both cores (up to a second).
                pages = [f"{language_url('/', lang)}papers/{path.stem}/" for path in changed for lang in LANGS]
                pages_open = state.open_among(pages)
                state.publish([], pages)
                preview.listing_rows()  # while the pages reload
                if pages_open:
                    state.wait_for_reload(timeout=1.0)
                # Then the listing, which draws its rows from rows.json.
                state.publish([], [f"{language_url('/', lang)}papers/" for lang in LANGS])
            report(preview.full_build())  # edits made meanwhile differ from `seen`: the next round builds them
            preview.prepare()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        if observer is not None:
            observer.stop()
