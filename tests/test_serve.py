"""`digest serve`: serves the built site and rebuilds when a record changes."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from digest.serve import CHANGES_PATH, BuildState, Changes, serve, snapshot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


@pytest.mark.parametrize("interval", [0.3, 3600], ids=["polled", "watched"])
def test_serve_rebuilds_when_a_record_changes(project, interval, monkeypatch):
    """Polled: with no file watcher (a file system without one), the poll sees the save. Watched: with a poll that
    never comes round (an hour), the file watcher wakes serve."""
    if interval < 1:
        monkeypatch.setattr("digest.serve.watch", lambda root, wake: None)
    port, stop, lines = free_port(), threading.Event(), []
    thread = threading.Thread(target=serve, args=(project, port, lines.append, lambda problems: None),
                              kwargs={"interval": interval, "stop": stop}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/zh/papers/alpha-video/"
    try:
        assert wait_for(lambda: "斑胸草雀" in fetch(url), 180)
        record = project / "content" / "papers" / "alpha-video.yaml"
        record.write_text(record.read_text(encoding="utf-8").replace("斑胸草雀", "蜂鸟"), encoding="utf-8")
        assert wait_for(lambda: "蜂鸟" in fetch(url), 180), lines
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def test_an_edit_saved_while_the_first_build_runs_is_built_next(project, monkeypatch):
    """serve notes what the first build reads before it starts: a record saved while that build runs (here: as it
    ends) is built right after, not taken for built."""
    from digest.serve import Preview

    record = project / "content" / "papers" / "alpha-video.yaml"
    full_build, calls = Preview.full_build, []

    def edit_meanwhile(self):
        problems = full_build(self)
        if not calls:  # the build has read the record: a save now is one it did not see
            record.write_text(record.read_text(encoding="utf-8").replace("斑胸草雀", "蜂鸟"), encoding="utf-8")
        calls.append(1)
        return problems

    monkeypatch.setattr(Preview, "full_build", edit_meanwhile)
    port, stop, lines = free_port(), threading.Event(), []
    thread = threading.Thread(target=serve, args=(project, port, lines.append, lambda problems: None),
                              kwargs={"interval": 0.3, "stop": stop}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: "蜂鸟" in fetch(f"http://127.0.0.1:{port}/zh/papers/alpha-video/"), 180), lines
    finally:
        stop.set()
        thread.join(10)


def start(project, lines):
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=serve, args=(project, port, lines.append, lambda problems: None),
                              kwargs={"interval": 0.2, "stop": stop}, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}", stop, thread


def test_pages_carry_the_reload_script_only_when_served_and_a_failed_rebuild_reports_its_problems(project):
    lines = []
    base, stop, thread = start(project, lines)
    try:
        assert wait_for(lambda: "zebrafinch" in fetch(f"{base}/papers/alpha-video/"), 180), lines
        served = fetch(f"{base}/papers/alpha-video/")
        assert "window.digestServe" in served and CHANGES_PATH in served
        assert "digestServe" not in (project / "site" / "papers" / "alpha-video" / "index.html").read_text("utf-8")
        version = json.loads(fetch(f"{base}{CHANGES_PATH}?since=-1"))["version"]
        record = project / "content" / "papers" / "alpha-video.yaml"
        record.write_text(record.read_text(encoding="utf-8").replace("published:", "published: [", 1),
                          encoding="utf-8")
        state = json.loads(fetch(f"{base}{CHANGES_PATH}?since={version}", timeout=120))
        for _ in range(10):  # a long poll answers each change (or times out empty-handed)
            if state["problems"]:
                break
            state = json.loads(fetch(f"{base}{CHANGES_PATH}?since={state['version']}", timeout=120))
        assert any(p.startswith("content/papers/alpha-video.yaml:") for p in state["problems"]), state
        page = fetch(f"{base}/papers/alpha-video/")
        assert "zebrafinch" in page and "content/papers/alpha-video.yaml:" in page  # last good site + problems
    finally:
        stop.set()
        thread.join(10)


def test_serve_answers_only_what_it_serves(project):
    base, stop, thread = start(project, [])
    try:
        assert wait_for(lambda: "zebrafinch" in fetch(f"{base}/papers/alpha-video/"), 180)
        # A preview changes under the browser: files are revalidated, pages (with the reload script) never stored.
        for path, policy in (("/papers/rows.json", "no-cache"), ("/papers/alpha-video/", "no-store")):
            with urllib.request.urlopen(f"{base}{path}", timeout=5) as answer:
                assert answer.headers.get_all("Cache-Control") == [policy], path
        request = urllib.request.Request(f"{base}/papers/alpha-video/", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 501
        with pytest.raises(urllib.error.HTTPError) as info:
            fetch(f"{base}/../../etc/passwd")
        assert info.value.code == 404
        # The long poll takes a version: anything else (5,000 digits, a page path of any length) is a page that
        # has none, answered at once with the current version.
        now = json.loads(fetch(f"{base}{CHANGES_PATH}?since=-1"))
        for query in ("since=" + "9" * 5000, "since=x&page=" + "a" * 10000 + "&loaded=1"):
            assert json.loads(fetch(f"{base}{CHANGES_PATH}?{query}")) == now, query[:20]
    finally:
        stop.set()
        thread.join(10)


def test_an_edited_title_reaches_its_pages_and_the_listing_rows_before_the_full_build(project):
    """serve's quick path writes the edited record's pages and each listing's rows.json (which the listing draws
    its rows from in the browser) exactly as the full build that follows will."""
    from digest.build import resolve_site_url
    from digest.serve import Preview

    preview = Preview(project, lambda line: None, resolve_site_url(project))
    assert preview.full_build() == []
    record = project / "content" / "papers" / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace("Alpha Video:", "Omega Video:")
                      .replace("Alpha 视频", "Omega 视频"), encoding="utf-8")
    assert preview.paper_pages([record]) == []
    preview.listing_rows()  # after the pages are published
    site = project / "site"
    quick = {rel: (site / rel).read_bytes() for prefix in ("", "zh/")
             for rel in (f"{prefix}papers/rows.json", f"{prefix}papers/alpha-video/index.html")}
    assert all("Omega" in data.decode("utf-8") for data in quick.values())
    assert "Omega" not in (site / "papers" / "index.html").read_text(encoding="utf-8")  # the full build's part
    assert preview.full_build() == []
    assert {rel: (site / rel).read_bytes() for rel in quick} == quick
    assert "Omega" in (site / "papers" / "index.html").read_text(encoding="utf-8")


def test_a_browser_leaving_mid_answer_prints_no_traceback(capsys):
    from digest.serve import PreviewServer

    server = PreviewServer(("127.0.0.1", 0), lambda *args: None)
    try:
        for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"), ValueError("odd")):
            try:
                raise error
            except Exception:
                server.handle_error(None, ("127.0.0.1", 5555))
    finally:
        server.server_close()
    err = capsys.readouterr().err
    assert err == "digest serve: could not answer 127.0.0.1:5555: ValueError: odd\n"


def test_after_an_edit_shown_the_full_build_waits_for_an_open_page_to_reload():
    """An edited page is published first, naming the pages it changed; the full build, which takes both cores,
    starts once an open page has reloaded to it (its first ask after loading) or a second has passed. A page
    that stays where it is (another path) and asks again does not count."""
    state = BuildState()
    answered = []
    pages = [threading.Thread(target=lambda p=p: answered.append(state.wait(0, timeout=30, page=p, loaded=True)))
             for p in ("/papers/alpha-video/", "/papers/")]
    for page in pages:
        page.start()
    while sum(state.waiting.values()) < 2:  # the open pages wait for a change
        time.sleep(0.01)
    assert state.open_among(["/papers/alpha-video/", "/zh/papers/alpha-video/"])
    assert not state.open_among(["/papers/beta-attention/"])
    state.publish([], ["/zh/papers/alpha-video/", "/papers/alpha-video/"])
    for page in pages:
        page.join(30)
    assert answered == 2 * [{"version": 1, "problems": [], "pages": ["/papers/alpha-video/",
                                                                     "/zh/papers/alpha-video/"]}]
    state.wait(1, timeout=0, page="/papers/")  # the listing stays and asks again
    assert state.wait_for_reload(timeout=0) is False  # the paper's page is not back yet
    state.wait(1, timeout=0, page="/papers/alpha-video/", loaded=True)  # it has loaded version 1
    assert state.wait_for_reload(timeout=0) is True
    state.publish([], ["/papers/"])  # then the listing
    # A page that missed a version is told every page changed since the one it has.
    assert state.wait(0, timeout=0)["pages"] == ["/papers/", "/papers/alpha-video/", "/zh/papers/alpha-video/"]
    assert state.wait(1, timeout=0)["pages"] == ["/papers/"]
    state.publish([])
    assert state.wait(2, timeout=0)["pages"] is None  # a full build: every open page reloads
    assert state.wait(7, timeout=0)["pages"] is None  # a page of an earlier serve, which counted further
    assert state.wait(-1, timeout=0)["pages"] is None


def test_an_editors_scratch_files_are_no_change(project):
    """vim's swap file, a backup, emacs' autosave, a save's temporary file and a tool's hidden folder beside the
    records change nothing that serve rebuilds for; the record itself does."""
    before = snapshot(project)
    papers = project / "content" / "papers"
    for name in (".alpha-video.yaml.swp", "alpha-video.yaml~", "#alpha-video.yaml#", "alpha-video.yaml.tmp"):
        (papers / name).write_text("half a record", encoding="utf-8")
    (papers / ".pytest_cache").mkdir()
    (papers / ".pytest_cache" / "README.md").write_text("x", encoding="utf-8")
    assert snapshot(project) == before
    record = papers / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert set(snapshot(project)) == set(before) and snapshot(project) != before


def test_a_change_only_the_poll_saw_is_built_once_it_holds_still():
    """A poll may land between an editor's truncation of a record and its write: such a change waits until the
    next poll sees it unchanged, while one that a file's close reported is built at once."""
    changes = Changes({"record": 1.0})
    assert not changes.ready({"record": 1.0}, woken=False)  # nothing changed
    assert not changes.ready({"record": 2.0}, woken=False)  # half written, perhaps
    assert not changes.ready({"record": 3.0}, woken=False)  # still being written
    assert changes.ready({"record": 3.0}, woken=False) and changes.seen == {"record": 3.0}  # held still: built
    assert not changes.ready({"record": 3.0}, woken=False)
    assert changes.ready({"record": 4.0}, woken=True)  # its close woke the loop: at once
    assert not changes.ready({"record": 4.0}, woken=True)  # a wake with nothing new
