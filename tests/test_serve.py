"""`digest serve`: serves the built site and rebuilds when a record changes."""

import socket
import threading
import time
import urllib.request

from digest.serve import serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
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


def test_serve_rebuilds_when_a_record_changes(project):
    port, stop, lines = free_port(), threading.Event(), []
    thread = threading.Thread(target=serve, args=(project, port, lines.append, lambda problems: None),
                              kwargs={"interval": 0.3, "stop": stop}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/zh/papers/alpha-video/"
    try:
        assert wait_for(lambda: "斑胸草雀" in fetch(url), 60)
        record = project / "content" / "papers" / "alpha-video.yaml"
        record.write_text(record.read_text(encoding="utf-8").replace("斑胸草雀", "蜂鸟"), encoding="utf-8")
        assert wait_for(lambda: "蜂鸟" in fetch(url), 60), lines
    finally:
        stop.set()
        thread.join(10)
