"""Browser tests: the REAL site (the repository's content and reference implementations), built once per test run
(the xdist workers share it) in a temporary copy, served on 127.0.0.1 by http.server, driven by Playwright in
Debian's Chromium.

Never a downloaded browser: Playwright starts /usr/bin/chromium (`executable_path`). Without it (or without the
playwright package) the tests are skipped on a developer's machine and FAIL in CI (CI=true), so a CI machine that
lost its browser cannot pass by skipping every browser test.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import REPO, once_per_run, run_lock, take_demo_outputs

CHROMIUM = Path(os.environ.get("PD_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Flags: no sandbox (CI runs as root), no GPU, and none of Chromium's own calls home; the host resolver maps every
# name but the loopback address to nothing, so a request to an outside host fails at once instead of waiting on a
# closed network (and the tests record it as a failure either way).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
# What a build copies: the site machinery and the real content. .cache/demos is copied when present so a developer's
# run reuses demo outputs whose inputs are unchanged (the hash covers every source); CI starts without it.
COPY = ("mkdocs.yml", "templates", "overrides", "pages", "content", "reference_impls")
# Where the site is served and the address it is built for: at the root with mkdocs.yml's site_url, and under a
# sub-path, as GitHub Pages serves a project site (https://<group>.github.io/<repo>/), built for that address.
# Tests marked @over_mounts run at both; the others at the root.
SITE_URLS = {"/": None, "/papers/": "https://example.org/papers/"}
over_mounts = pytest.mark.parametrize("mount", list(SITE_URLS), ids=["root", "sub-path"], scope="session")


def over_mounts_with(argname: str, at_root: list, under_sub_path: list):
    """@over_mounts for a test parametrized over `argname`: every value at the root, `under_sub_path` (one of
    each kind) under the sub-path, whose site is the root's but for the address (tests/browser/test_pages.py:
    test_the_sub_path_site_is_the_root_site_at_another_address)."""
    pairs = [("/", v) for v in at_root] + [("/papers/", v) for v in under_sub_path]
    return pytest.mark.parametrize(("mount", argname), pairs, scope="session",
                                   ids=[f"{v}-{'root' if m == '/' else 'sub-path'}" for m, v in pairs])
# The engines that build the HTML from the same Markdown trees (digest build --engine); tests/browser/test_engines.py
over_engines = pytest.mark.parametrize("engine", ["mkdocs", "zensical"], scope="session")


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser tests must run in CI; .ci/run installs what they need)",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('the playwright package is missing: pip install -e ".[test]"')
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk")
    return sync_playwright


def copy_real_project(root: Path) -> None:
    """The repository's site machinery and real content, copied into `root`, where the run's real sites are built."""
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
    for name in COPY:
        src = REPO / name
        (shutil.copytree(src, root / name, ignore=ignore) if src.is_dir() else shutil.copy2(src, root / name))
    if (REPO / ".cache" / "demos").is_dir():
        shutil.copytree(REPO / ".cache" / "demos", root / ".cache" / "demos", ignore=ignore)


@pytest.fixture(scope="session")
def mount() -> str:
    """The URL path the site is served under: the root, unless a test is marked @over_mounts."""
    return "/"


@pytest.fixture(scope="session")
def engine() -> str:
    """What builds the HTML: MkDocs + Material, unless a test is parametrized over ENGINES."""
    return "mkdocs"


@dataclass
class RealSite:
    """A build of the real site: its site/ folder and the address it was built for."""

    site: Path
    site_url: str


@pytest.fixture(scope="session")
def build_real(tmp_path_factory):
    """build(mount, engine) -> the RealSite for that mount point and engine, built once per test run, whichever
    xdist worker asks first (the others wait for it, then read the same folder). The builds share one copy of the
    project, so its demos run once: the later builds reuse .cache/demos. A demo that a download test already ran
    on the same sources (same inputs' hash) is not run again: its outputs are taken (tests/conftest.py)."""
    from digest.build import build_site

    root = once_per_run(tmp_path_factory, "real-site", copy_real_project)
    sites = {}

    def build(mount: str, engine: str = "mkdocs") -> RealSite:
        if (mount, engine) not in sites:
            kept = root / f"site-{mount.strip('/') or 'root'}-{engine}"
            record = kept.with_name(kept.name + ".json")
            with run_lock(tmp_path_factory, "real-site-builds"):
                if not record.is_file():
                    start = time.perf_counter()
                    taken = take_demo_outputs(tmp_path_factory, root)
                    report = build_site(root, echo=lambda line: None, site_url=SITE_URLS[mount], engine=engine)
                    print(f"\nbuilt the real site with {engine} for {report.site_url} in "
                          f"{time.perf_counter() - start:.1f} s: {report.pages} pages, {report.seconds}; demo "
                          f"outputs of {len(taken)} downloads' runs taken")
                    shutil.rmtree(kept, ignore_errors=True)
                    report.site.rename(kept)
                    record.write_text(json.dumps({"site_url": report.site_url}), encoding="utf-8")
            sites[mount, engine] = RealSite(kept, json.loads(record.read_text(encoding="utf-8"))["site_url"])
        return sites[mount, engine]

    return build


# built, site, site_url and base_url are looked up per test in session-wide caches (build_real, servers): as
# session fixtures, pytest kept the first mount point's site for a later test that asked for the other one.
@pytest.fixture
def built(build_real, mount: str, engine: str) -> RealSite:
    """The real site built for this test's mount point and engine."""
    return build_real(mount, engine)


@pytest.fixture
def site(built) -> Path:
    """The built site/ folder."""
    return built.site


@pytest.fixture
def site_url(built) -> str:
    """The address the site was built for (canonical links, sitemaps, feeds)."""
    return built.site_url


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files under the mount point; a missing path gets the site's own 404 page (zh/404.html under zh/), as a
    static host does. Nothing is served outside the mount point."""

    def __init__(self, *args, mount: str = "/", **kwargs):
        self.mount = mount
        super().__init__(*args, **kwargs)

    def translate_path(self, path):
        inside = urlsplit(path).path
        if not inside.startswith(self.mount):
            return os.path.join(self.directory, ".outside-the-mount-point")
        return super().translate_path("/" + path[len(self.mount):])

    def log_message(self, *args):  # quiet: failures are asserted, not logged
        pass

    def end_headers(self):
        # As a static host does (GitHub Pages sends max-age=600): the browser reuses CSS, scripts and the search
        # index from one page to the next instead of asking for each again.
        self.send_header("Cache-Control", "max-age=600")
        super().end_headers()

    def send_error(self, code, message=None, explain=None):
        if code != 404:
            return super().send_error(code, message, explain)
        lang = "zh/" if urlsplit(self.path).path.startswith(self.mount + "zh/") else ""
        body = (Path(self.directory) / lang / "404.html").read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@pytest.fixture(scope="session")
def servers():
    """serve(site, mount) -> http://127.0.0.1:<free port><mount>, one server thread per (site, mount) per session."""
    running = {}

    def serve(site: Path, mount: str) -> str:
        if (site, mount) not in running:
            handler = functools.partial(_Handler, directory=str(site), mount=mount)
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: the OS picks a free one
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            running[site, mount] = server
        return f"http://127.0.0.1:{running[site, mount].server_port}{mount}"

    yield serve
    for server in running.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def base_url(servers, site: Path, mount: str) -> str:
    """The URL of this test's site, served under its mount point."""
    return servers(site, mount)


@pytest.fixture(scope="session")
def browser(sync_playwright):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """Everything that went wrong while a context's pages loaded: console errors, uncaught exceptions, failed
    requests (no response, or a status of 400 and more) and any request to a host other than the test server."""

    origin: str
    problems: list[str] = field(default_factory=list)
    inflight: set = field(default_factory=set)

    def attach(self, context) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"uncaught: {error.error}"))
        context.on("request", self._request)
        context.on("requestfinished", lambda request: self.inflight.discard(request))
        context.on("requestfailed", self._failed)
        context.on("response", self._response)

    def _console(self, message) -> None:
        url = message.location.get("url", "?")
        # The browser's own favicon request (see _origin_favicon) also logs its 404 to the console.
        if message.type == "error" and not self._origin_favicon(url):
            self.problems.append(f"console error on {url}: {message.text}")

    def _request(self, request) -> None:
        self.inflight.add(request)
        scheme = urlsplit(request.url).scheme
        if scheme in ("http", "https", "ws", "wss") and not request.url.startswith(self.origin) \
                and not self._origin_favicon(request.url):
            self.problems.append(f"request to an outside host: {request.url}")

    def _origin_favicon(self, url: str) -> bool:
        """Chromium asks for /favicon.ico at the root of the origin for a document that names no icon (feed.xml in
        its XML viewer), sometimes, depending on timing. Under a sub-path the site does not own that root (on a
        project's GitHub Pages site it is the account's), so the request and its 404 are the browser's, not the
        site's. At the root mount the site serves favicon.ico itself, and a 404 there still counts."""
        base = urlsplit(self.origin)
        return base.path not in ("", "/") and url == f"{base.scheme}://{base.netloc}/favicon.ico"

    def _failed(self, request) -> None:
        self.inflight.discard(request)
        # ERR_ABORTED is a request the browser dropped because the page navigated away (the favicon, fetched
        # lazily after load, when a test clicks on at once): not something the site did wrong.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._origin_favicon(response.url):
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def settle(self, page, quiet: float = 0.05, limit: float = 15.0) -> None:
        """Wait until no request has been in flight for `quiet` seconds (Playwright's networkidle waits 0.5 s per
        page, which over every page of the site costs more than the checks; what a page starts after its load
        event, the search index and the sitemap, starts at once), then for MathJax to finish."""
        deadline, calm_since = time.monotonic() + limit, None
        while time.monotonic() < deadline:
            page.wait_for_timeout(25)
            if self.inflight:
                calm_since = None
            elif calm_since is None:
                calm_since = time.monotonic()
            elif time.monotonic() - calm_since >= quiet:
                break
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")

    def take(self) -> list[str]:
        problems, self.problems = self.problems, []
        return problems


@pytest.fixture
def context(browser, base_url):
    """A fresh browser context (own storage) per test, watched; the test asserts on watch.take()."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
    context.watch = Watch(base_url)
    context.watch.attach(context)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.watch = context.watch
    return page


def site_path(site: Path, url: str, base_url: str) -> Path | None:
    """The file a same-site URL is served from (None for another origin; a path that cannot exist for a URL of
    the test server outside the site's mount point: a link that assumes the site is at the root)."""
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(base_url))
    if not url.startswith(origin):
        return None
    if not url.startswith(base_url):
        return site / ".outside-the-mount-point"
    path = unquote(urlsplit(url).path)[len(urlsplit(base_url).path):]
    target = site / path
    return target / "index.html" if path.endswith("/") or not path else target
