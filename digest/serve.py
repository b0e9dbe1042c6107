"""`digest serve`: build, serve site/ on localhost, rebuild when a source changes (the last good site stays up)."""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from digest.build import build_site
from digest.problems import DigestError

WATCHED = ("content", "templates", "overrides", "pages", "reference_impls", "mkdocs.yml")


def snapshot(root: Path) -> dict[str, float]:
    """Modification times of every watched file (polling: no extra dependency, fine for a few thousand files)."""
    times = {}
    for name in WATCHED:
        path = root / name
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" not in file.parts:
                times[str(file)] = file.stat().st_mtime
    return times


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def serve(root: Path, port: int, echo: Callable[[str], None], on_problems: Callable,
          interval: float = 1.0, stop: threading.Event | None = None) -> None:
    root = root.resolve()

    def rebuild() -> None:
        try:
            # Built for the address it is served at: 404 pages link from the site's address, not from here.
            build_site(root, keep_going=True, echo=echo, site_url=f"http://127.0.0.1:{port}/")
            echo(f"serving http://127.0.0.1:{port}/ (English) and http://127.0.0.1:{port}/zh/ (中文)")
        except DigestError as exc:
            on_problems(exc.problems)
            echo("build failed: still serving the last good site")

    rebuild()
    (root / "site").mkdir(exist_ok=True)
    handler = functools.partial(QuietHandler, directory=str(root / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = stop or threading.Event()
    seen = snapshot(root)
    try:
        while not stop.wait(interval):
            now = snapshot(root)
            if now != seen:
                changed = sorted(set(now.items()) ^ set(seen.items()))
                echo(f"changed: {Path(changed[0][0]).relative_to(root)}; rebuilding")
                seen = now
                rebuild()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
