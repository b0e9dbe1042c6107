"""The Run endpoint of `digest serve`: a run streams and is cached apart; every request it was not built for is
refused (no token, other Origin, other Host, unknown id, knobs out of range, a second run of the same demo)."""

from __future__ import annotations

import functools
import http.client
import json
import threading
import time
from dataclasses import replace
from http.server import ThreadingHTTPServer

import pytest

from digest.demos import DEMO_LIMITS, run_demo
from digest.load import load_project
from digest.runs import Runner, with_runs
from digest.serve import BuildState, Handler


@pytest.fixture
def server(project_with_impl):
    """A Run-enabled server on a free port over the fixture project (site/ holds one page)."""
    site = project_with_impl / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><head><title>x</title></head><body>page</body></html>")
    runner = Runner(project_with_impl, 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(with_runs(type("SiteHandler", (Handler,), {"state": BuildState()}), runner),
                                                                     directory=str(site)))
    runner.port = httpd.server_port
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield runner
    httpd.shutdown()
    httpd.server_close()


def request(runner, method="POST", path="/__digest__/run", body=None, host=None, origin="same",
            token="right"):
    host = host or f"127.0.0.1:{runner.port}"
    headers = {"Host": host, "Content-Type": "application/json"}
    if origin:
        headers["Origin"] = f"http://127.0.0.1:{runner.port}" if origin == "same" else origin
    if token:
        headers["X-Digest-Token"] = runner.token if token == "right" else token
    connection = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=60)
    connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8")


def messages(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_run_streams_progress_and_is_cached_apart_from_the_published_outputs(server):
    root = server.root
    published = run_demo(root, load_project(root)[0].papers["alpha-video"], echo=lambda line: None)
    before = {p.name: p.read_bytes() for p in published.out_dir.iterdir()}
    status, text = request(server, body={"paper": "alpha-video", "knobs": {"ROWS": 3}})
    assert status == 200
    lines = messages(text)
    assert any("[1/2] sampling logits" in m.get("line", "") for m in lines)  # the demo's progress, streamed
    done = lines[-1]["done"]
    assert done["ok"] and done["knobs"] == {"ROWS": 3, "SEED": 0}
    assert {m["key"]: m["value"] for m in done["metrics"]}["rows"] == 3 and done["published"]["rows"] == 8
    assert {k.split("::")[1]: v["outcome"] for k, v in done["claims"].items()}["test_rows_sum_to_one"] == "passed"
    status, svg = request(server, "GET", done["figure_urls"]["probs.svg"])
    assert status == 200 and svg.startswith("<?xml")
    assert {p.name: p.read_bytes() for p in published.out_dir.iterdir()} == before  # the page's figures stay
    status, again = request(server, body={"paper": "alpha-video", "knobs": {"ROWS": 3}})
    assert "reusing the cached run" in again and messages(again)[-1]["done"]["metrics"] == done["metrics"]


def test_served_pages_carry_the_token_and_other_hosts_get_nothing(server):
    status, page = request(server, "GET", "/", origin=None, token=None)
    assert status == 200 and f'<meta name="pd-run-token" content="{server.token}"></head>' in page
    for host in ("evil.example:80", f"evil.example:{server.port}", "127.0.0.1:1"):  # DNS rebinding
        status, body = request(server, "GET", "/", host=host, origin=None, token=None)
        assert status == 421 and server.token not in body
        assert request(server, body={"paper": "alpha-video"}, host=host)[0] == 421


@pytest.mark.parametrize("origin, token, status", [
    ("same", None, 403),                      # no token
    ("same", "guessed", 403),                 # wrong token
    ("http://evil.example", "right", 403),    # another page open in the same browser
    (None, "right", 403),                     # no Origin at all
])
def test_a_run_without_the_token_or_from_another_origin_is_refused(server, origin, token, status):
    code, body = request(server, body={"paper": "alpha-video"}, origin=origin, token=token)
    assert code == status and "error" in json.loads(body)
    assert not (server.root / ".cache" / "runs").exists()


@pytest.mark.parametrize("body, status, reason", [
    ({"paper": "no-such-paper"}, 404, "no paper with an implementation has the id 'no-such-paper'"),
    ({"paper": "beta-attention"}, 404, "no paper with an implementation"),
    ({"paper": "alpha-video", "knobs": {"ROWS": 65}}, 400, "ROWS: expected a value from 2 to 64, got 65"),
    ({"paper": "alpha-video", "knobs": {"ROWS": 2.5}}, 400, "ROWS: expected an integer"),
    ({"paper": "alpha-video", "knobs": {"STEPS": 3}}, 400, "unknown knob 'STEPS'"),
    ("not an object", 400, "the body must be JSON"),
])
def test_unknown_papers_and_knobs_out_of_range_are_refused(server, body, status, reason):
    code, text = request(server, body=body)
    assert code == status and reason in json.loads(text)["error"]


def test_other_methods_and_preflights_are_refused(server):
    assert request(server, "OPTIONS", origin="http://evil.example")[0] == 403
    assert request(server, "POST", "/__digest__/other", body={})[0] == 501
    assert request(server, "GET", "/__digest__/runs/alpha-video/0123456789abcdef/../../x.svg")[0] == 404


def test_a_second_run_of_the_same_demo_is_refused_while_the_first_runs(server):
    (server.root / "reference_impls" / "tiny" / "MODE").write_text("hang")
    server.limits = replace(DEMO_LIMITS, seconds=4)  # the build's limits, shortened: they stop the hang
    first = {}
    thread = threading.Thread(target=lambda: first.update(
        zip(("status", "text"), request(server, body={"paper": "alpha-video"}))))
    thread.start()
    deadline = time.monotonic() + 30
    while "alpha-video" not in server.running and time.monotonic() < deadline:
        time.sleep(0.05)
    status, text = request(server, body={"paper": "alpha-video", "knobs": {"ROWS": 4}})
    assert status == 409 and "already running" in json.loads(text)["error"]
    thread.join(60)
    done = messages(first["text"])[-1]["done"]
    assert not done["ok"] and "timed out after 4 s" in done["error_tail"]
    assert "alpha-video" not in server.running  # the slot is free again
