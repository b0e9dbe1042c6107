"""Runs from the page: `digest serve`'s Run button runs a paper's demo on the reader's machine.

This is a server that runs code, so it refuses everything it was not built for: a Host other than the address it
listens on (DNS rebinding), an Origin other than its own (another page open in the browser), a request without
the token that the served pages carry (injected into each HTML page at start-up), an unknown paper, knobs
outside their declared ranges, and a second run of a demo that is already running. A run goes through the
build's own `demos.execute` (same `DEMO_LIMITS`) into `.cache/runs/<id>/<key>/`, never over the published outputs.

    POST /__digest__/run             {"paper": id, "knobs": {NAME: value}}, header X-Digest-Token
                                  -> NDJSON lines: {"line": ...} while it runs, then {"done": {...}}
    GET  /__digest__/runs/<id>/<key>/<file>.svg   a figure of a local run
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.demos import DEMO_LIMITS, RUNS_CACHE, DemoLimits, cached_run, demo_knobs, execute, inputs_hash
from digest.load import load_project

RUNS = RUNS_CACHE
PREFIX = "/__digest__/"  # beside serve.py's own /__digest__/changes
TOKEN_HEADER = "X-Digest-Token"
FIGURE_PATH = re.compile(r"/__digest__/runs/([a-z0-9-]+)/([0-9a-f]{16})/([A-Za-z0-9_.-]+\.svg)")


class Refused(Exception):
    """A request the server will not serve: HTTP status and the reason, sent back as JSON."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Runner:
    """The state behind the Run button: the project root, the port, the token and the demos now running."""

    root: Path
    port: int
    limits: DemoLimits = DEMO_LIMITS  # the build's time, memory, file-size and output limits
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    running: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def check_host(self, headers) -> None:
        if headers.get("Host", "") not in self.hosts:
            raise Refused(421, f"Host must be one of {sorted(self.hosts)}")

    def check_caller(self, headers) -> None:
        """Same origin and the token: what a page served by this server sends, and no other page can."""
        origin = headers.get("Origin")
        if origin is None or urlsplit(origin).netloc not in self.hosts or urlsplit(origin).scheme != "http":
            raise Refused(403, "the request must come from a page this server served (Origin)")
        if not hmac.compare_digest(headers.get(TOKEN_HEADER, ""), self.token):
            raise Refused(403, f"missing or wrong {TOKEN_HEADER}: reload the page served by digest serve")

    def request(self, body: bytes):
        """The paper and checked knobs of a run request (defaults filled in), or Refused."""
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise Refused(400, "the body must be JSON: {\"paper\": id, \"knobs\": {...}}") from None
        if not isinstance(data, dict) or not isinstance(data.get("knobs", {}), dict):
            raise Refused(400, "the body must be JSON: {\"paper\": id, \"knobs\": {...}}")
        project, _ = load_project(self.root)
        paper = project.papers.get(str(data.get("paper")))
        if paper is None or paper.impl is None:
            raise Refused(404, f"no paper with an implementation has the id {data.get('paper')!r}")
        specs = {k.name: k for k in demo_knobs(self.root, paper)}
        unknown = sorted(set(data.get("knobs", {})) - set(specs))
        if unknown:
            raise Refused(400, f"unknown knob {unknown[0]!r}: this demo has {sorted(specs)}")
        knobs = {name: spec.default for name, spec in specs.items()}
        for name, value in data.get("knobs", {}).items():
            try:
                knobs[name] = specs[name].check(value)
            except ValueError as exc:
                raise Refused(400, str(exc)) from None
        return paper, knobs

    def claim(self, paper_id: str) -> None:
        """Take the demo's one run slot, or Refused if a run of it is under way."""
        with self.lock:
            if paper_id in self.running:
                raise Refused(409, f"the demo of {paper_id} is already running: wait for it to finish")
            self.running.add(paper_id)

    def run(self, paper, knobs: dict, send) -> None:
        """Run one demo (its slot claimed), calling `send(dict)` with each progress line, then the result."""
        try:
            digest = inputs_hash(self.root, paper)
            key = hashlib.sha256(f"{digest}|{json.dumps(knobs, sort_keys=True)}".encode()).hexdigest()[:16]
            folder = self.root / RUNS / paper.id / key
            if (folder / "run.json").exists():
                send({"line": "reusing the cached run with these knobs"})
                run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            else:
                staging = self.root / RUNS / paper.id / f".{key}.tmp"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
                result = execute(self.root, paper, staging, digest, self.limits,
                                 lambda line: send({"line": line}), knobs)
                run = json.loads((staging / "run.json").read_text(encoding="utf-8"))
                if result.ok:  # a failed run is not kept: the next click runs again
                    shutil.rmtree(folder, ignore_errors=True)
                    staging.rename(folder)
                else:
                    shutil.rmtree(staging, ignore_errors=True)
        except Exception as exc:  # noqa: BLE001 - the page shows what went wrong instead of a silent stop
            send({"error": f"{type(exc).__name__}: {exc}"})
            return
        finally:
            with self.lock:
                self.running.discard(paper.id)
        published = cached_run(self.root, paper)
        run["figure_urls"] = {f["file"]: f"{PREFIX}runs/{paper.id}/{key}/{f['file']}" for f in run["figures"]}
        run["published"] = {m.key: m.value for m in published.metrics} if published else {}
        send({"done": run})

    def figure(self, path: str) -> Path:
        match = FIGURE_PATH.fullmatch(path)
        file = self.root / RUNS / match.group(1) / match.group(2) / match.group(3) if match else None
        if file is None or not file.is_file():
            raise Refused(404, "no such figure of a local run")
        return file

    def inject(self, page: bytes) -> bytes:
        """The page with the token in a <meta> that the Run box's script reads (only pages this server serves)."""
        meta = f'<meta name="pd-run-token" content="{html.escape(self.token)}">'.encode()
        return page.replace(b"</head>", meta + b"</head>", 1)


def with_runs(handler_class: type[SimpleHTTPRequestHandler], runner: Runner) -> type[SimpleHTTPRequestHandler]:
    """`handler_class` (serve.py's, which sends its HTML pages through `send_bytes`) with the Run endpoints, the
    Host check on every request and the token in every page."""

    class RunHandler(handler_class):
        def _refuse(self, exc: Refused) -> None:
            body = json.dumps({"error": exc.reason}).encode()
            self.send_response(exc.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _guard(self) -> bool:
            try:
                runner.check_host(self.headers)
                return True
            except Refused as exc:
                self._refuse(exc)
                return False

        def do_HEAD(self):
            if self._guard():
                super().do_HEAD()

        def do_GET(self):
            if not self._guard():
                return
            path = urlsplit(self.path).path
            if path.startswith(f"{PREFIX}runs/"):
                try:
                    self._send(runner.figure(path).read_bytes(), "image/svg+xml")
                except Refused as exc:
                    self._refuse(exc)
                return
            super().do_GET()

        def send_bytes(self, body: bytes, content_type: str) -> None:  # how the base handler sends its pages
            if content_type.startswith("text/html"):
                body = runner.inject(body)
            super().send_bytes(body, content_type)

        def do_OPTIONS(self):  # no CORS: a preflight from another origin gets nothing it can use
            if self._guard():
                self._refuse(Refused(403, "cross-origin requests are not served"))

        def do_POST(self):
            if not self._guard():
                return
            if unquote(urlsplit(self.path).path) != f"{PREFIX}run":
                self.send_error(501, f"Unsupported method ('POST'): the only POST is {PREFIX}run")
                return
            try:
                runner.check_caller(self.headers)
                length = int(self.headers.get("Content-Length") or 0)
                if length > 10_000:
                    raise Refused(413, "request body too large")
                paper, knobs = runner.request(self.rfile.read(length))
                runner.claim(paper.id)
                started = []

                def send(message: dict) -> None:
                    try:
                        if not started:
                            self.send_response(200)
                            self.send_header("Content-Type", "application/x-ndjson; charset=utf-8")
                            self.send_header("Cache-Control", "no-store")
                            self.end_headers()
                            started.append(True)
                        self.wfile.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
                        self.wfile.flush()
                    except OSError:  # the reader closed the page: the run still finishes and is cached
                        pass

                send({"line": f"running the demo of {paper.id} with {json.dumps(knobs)}"})
                runner.run(paper, knobs, send)
            except Refused as exc:
                self._refuse(exc)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return RunHandler
