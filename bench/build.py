"""Benchmark the pipeline on N records cloned from the twelve real ones (bench/corpus.py); prints one table.

    python bench/build.py                 # 1,000 records: stages, Markdown floor, builds, sizes, serve latency
    python bench/build.py -n 10000 --no-floor --no-browser   # wall time and peak memory at 10,000

Rows: load / validate / render+write (one process, both languages); the Markdown floor (Python-Markdown with
mkdocs.yml's extensions over every generated page, one core); `digest build` from nothing (no `.cache/`, no
`build/`: a fresh checkout), then from nothing but each page's kept conversion, and but the conversions and the
search documents (the floors: what that build would take if Markdown, and Chinese segmentation, cost nothing),
`--clean` with the caches of that build (each page's conversion, search document,
Markdown and record kept by content), unchanged, the start-up of a command and `digest check` (an edit's
floor in a new process), after one record's edit, then the median of five more of English text and of five of
Chinese text (wall time, CPU seconds, peak memory of the build's processes together, shared pages counted once);
page, listing and search-index sizes
(raw and gzipped); the edit-to-browser latency of `digest serve` in Chromium (edit a record's title, wait until
the open page shows it; then until the listing does); a fixed Python loop at the start and the end, for how fast
the machine was meanwhile. The commands run as on a machine that keeps Python's bytecode (`COMMAND_ENV`).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from corpus import edit_record, make_project  # noqa: E402

from digest.build import write_docs  # noqa: E402
from digest.load import load_project  # noqa: E402
from digest.validate import validate  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "8100"))
# The commands measured run as on a machine that keeps Python's bytecode: a sandbox that sets
# PYTHONDONTWRITEBYTECODE makes every command compile the modules it imports again (0.05-0.1 s each).
COMMAND_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ROWS: list[tuple[str, str]] = []


def row(name: str, value: str) -> None:
    ROWS.append((name, value))
    print(f"  {name:44} {value}", file=sys.stderr, flush=True)  # progress while the table is being made


def tree_memory(pid: int) -> int:
    """Memory (bytes) of a process and all its descendants: the sum of their proportional set sizes (PSS, from
    /proc/<pid>/smaps_rollup), so pages that forked workers share with their parent count once, not once per
    process as a sum of RSS would count them."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            pass
        todo += children.get(p, [])
    return total


LOOP = "sum(i * i for i in range(10_000_000))"


def machine_speed() -> tuple[float, float]:
    """Seconds of a fixed pure-Python workload (the sum of 10^7 squares) on one core, and the slower of two run at
    once on two cores: how fast this machine is now. Shared machines change speed from hour to hour (here by up
    to 40%), and a build uses both cores (a neighbour may slow one), so two runs' figures compare only beside
    this row."""
    t = time.perf_counter()
    sum(i * i for i in range(10_000_000))  # LOOP
    one = time.perf_counter() - t
    code = f"import time; t = time.perf_counter(); {LOOP}; print(time.perf_counter() - t)"
    both = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    return one, max(float(proc.communicate()[0]) for proc in both)


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Run a command; wall seconds, CPU seconds (user + system, its workers included: what a loaded machine does
    not inflate much), peak memory (PSS) of its process tree (sampled every 200 ms), its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=COMMAND_ENV)
    peak, out, ended = 0, [], []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    # The end is taken when the process ends (a thread waits for it), not at the next memory sample: sampling
    # every 0.2 s rounded each time up to the sample after it.
    waiter = threading.Thread(target=lambda: (proc.wait(), ended.append(time.perf_counter())), daemon=True)
    waiter.start()
    while waiter.is_alive():
        peak = max(peak, tree_memory(proc.pid))
        waiter.join(0.2)  # a scan of /proc: every 50 ms it took a fifth of a core from the build it measured
    reader.join()
    seconds = ended[0] - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{''.join(out)[-3000:]}")
    return seconds, cpu, peak, "".join(out)


def keep_only(root: Path, kept: tuple[str, ...]) -> None:
    """Remove a project's site, build folder and every cache entry but `kept` (names in `.cache/`)."""
    for folder in (root / "site", root / ".site.old", root / "build"):
        shutil.rmtree(folder, ignore_errors=True)
    for entry in (root / ".cache").iterdir():
        if entry.name not in kept:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def sizes(*paths: Path) -> str:
    """Raw and gzipped size of what a browser downloads: the files, each compressed on its own."""
    raw = sum(len(p.read_bytes()) for p in paths)
    packed = sum(len(gzip.compress(p.read_bytes(), 6)) for p in paths)
    return f"{raw / 1e3:.1f} KB ({packed / 1e3:.1f} KB gzipped)"


def markdown_floor(docs: Path) -> tuple[float, int]:
    """Seconds to convert every generated page with Python-Markdown and mkdocs.yml's extensions, one core."""
    import markdown

    from extensions import mkdocs_extensions

    extensions, configs = mkdocs_extensions()
    pages = sorted(docs.rglob("*.md"))
    md = markdown.Markdown(extensions=extensions, extension_configs=configs)
    start = time.perf_counter()
    for page in pages:
        md.reset().convert(page.read_text(encoding="utf-8"))
    return time.perf_counter() - start, len(pages)


def serve_latency(root: Path, record: Path) -> tuple[float, float, float]:
    """Seconds from saving a record's new title to the open page showing it (Chromium's first paint of the
    reloaded page, whose title holds it), to the benchmark's poll seeing that title, and to the listing showing it.
    The poll runs in the page and re-attaches after the reload: it sees the title up to 0.6 s after the paint."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    log = root / "serve.log"  # what serve said, for a run that fails
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port", str(PORT), "--root",
                                   str(root)], stdout=out, stderr=subprocess.STDOUT, env=COMMAND_ENV)
    try:
        import urllib.request

        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"digest serve stopped:\n{log.read_text()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(5)  # serve warms its page builders after the first build
        paper_id = record.stem
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{PORT}/papers/{paper_id}/", wait_until="load")
            listing = browser.new_page()
            listing.goto(f"http://127.0.0.1:{PORT}/papers/", wait_until="load")
            page.bring_to_front()  # the page being edited is the one in view (a tab behind is not painted)
            marker = f"Edited {time.time_ns()}"
            start, saved = time.perf_counter(), time.time()
            edit_record(record, "title", marker + " ")
            page.wait_for_function(f"document.title.includes({marker!r})", timeout=600_000, polling="raf")
            seen = time.perf_counter() - start
            painted = page.evaluate("() => { const p = performance.getEntriesByName('first-contentful-paint')[0];"
                                    " return p ? (performance.timeOrigin + p.startTime) / 1000 : null; }")
            shown = painted - saved if painted else seen
            listing.wait_for_function(f"document.body && document.body.innerText.includes({marker!r})", timeout=1_800_000,
                                      polling=100)
            caught_up = time.perf_counter() - start
            browser.close()
        return shown, seen, caught_up
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of records (clones of the twelve real ones)")
    parser.add_argument("--no-floor", action="store_true", help="skip the floors (two minutes per 1,000)")
    parser.add_argument("--no-browser", action="store_true", help="skip the digest serve latency in Chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_project(root, args.n)
        print(f"{args.n} records (clones of the twelve real ones), {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
        start_speed = machine_speed()
        t = time.perf_counter()
        project, problems = load_project(root)
        row("load", f"{time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        project, problems = load_project(root)
        row("load again (records parsed before: .cache/records/)", f"{time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        problems += validate(project)
        row("validate", f"{time.perf_counter() - t:.2f} s")
        assert not [p for p in problems if p.severity == "error"], problems[:3]
        docs = root / "build" / "bench-docs"
        t = time.perf_counter()
        write_docs(project, {}, root, docs)
        row("render+write (both languages, one process)", f"{time.perf_counter() - t:.2f} s")
        if not args.no_floor:
            seconds, pages = markdown_floor(docs)
            row("Markdown floor (Python-Markdown, one core)", f"{seconds:.2f} s for {pages} pages")
        digest = [sys.executable, "-m", "digest.cli", "build", "--root", str(root)]
        for folder in (".cache", "build"):  # what the stages above left: the first build starts from nothing
            shutil.rmtree(root / folder, ignore_errors=True)
        seconds, cpu, peak, _ = run_measured(digest, REPO)
        row("digest build, first (no caches: a fresh checkout)",
            f"{seconds:.2f} s wall, {cpu:.1f} s CPU, peak memory {peak / 2**20:.0f} MB (PSS)")
        if not args.no_floor:
            # A first build's floors: the same build from nothing but what one stage made last time, so that
            # stage costs next to nothing (what another Markdown engine or Chinese segmenter could at best give).
            for name, kept in (("first build, each page's conversion kept (Markdown free)", ("html",)),
                               ("first build, conversions and search documents kept (Markdown and jieba free)",
                                ("html", "search-docs.en.jsonl", "search-docs.zh.jsonl"))):
                keep_only(root, kept)
                seconds, cpu, _, _ = run_measured(digest, REPO)
                row(name, f"{seconds:.2f} s wall, {cpu:.1f} s CPU")
        for name, cmd in (("digest build --clean (caches kept)", digest + ["--clean"]),
                          ("digest build, unchanged", digest)):
            seconds, cpu, peak, _ = run_measured(cmd, REPO)
            row(name, f"{seconds:.2f} s wall, {cpu:.1f} s CPU, peak memory {peak / 2**20:.0f} MB (PSS)")
        # An edit's floor in a new process: Python and the build's imports, then the records loaded (from
        # .cache/records/) and validated, before any page is made.
        for name, cmd in (("start-up: python -c 'import digest.build'", [sys.executable, "-c", "import digest.build"]),
                          ("digest check (start-up, records loaded from .cache/records/, validated)",
                           [sys.executable, "-m", "digest.cli", "check", "--root", str(root)])):
            seconds, cpu, _, _ = run_measured(cmd, REPO)
            row(name, f"{seconds:.2f} s wall, {cpu:.1f} s CPU")
        # Edits in a row: the first build after a clean one links a fresh copy of the site; from the second on a
        # dirty build brings the site before it (.site.old) in line by the paths the last one changed
        # (digest/build.py link_last_site). An edit of Chinese text loads jieba's dictionary for the search index.
        middle = len(files) // 2
        edited = iter(files[middle:])
        for name, lang, prefix, times in (("digest build, one record edited", "en", "Edited. ", 1),
                                          ("digest build, the next records edited (English)", "en", "Edited. ", 5),
                                          ("digest build, the next records edited (Chinese)", "zh", "编辑过。", 5)):
            runs = []
            for _ in range(times):
                edit_record(next(edited), "summary", prefix, lang)
                runs.append(run_measured(digest, REPO))
            seconds = sorted(run[0] for run in runs)
            cpu, peak = statistics.median(run[1] for run in runs), max(run[2] for run in runs)
            spread = f" (median of {times}: {seconds[0]:.2f}-{seconds[-1]:.2f})" if times > 1 else ""
            row(name, f"{statistics.median(seconds):.2f} s wall{spread}, {cpu:.1f} s CPU, peak memory "
                      f"{peak / 2**20:.0f} MB (PSS)")
        site = root / "site"
        papers = sorted((site / "papers").glob("*/index.html"))
        median = statistics.median_low([p.stat().st_size for p in papers])
        row("paper page, median", sizes(next(p for p in papers if p.stat().st_size == median)))
        row("papers listing (en)", sizes(site / "papers" / "index.html"))
        row("papers listing (zh)", sizes(site / "zh" / "papers" / "index.html"))
        tag_pages = list(site.glob("tags/*/index.html")) + list(site.glob("tags/*/page/*/index.html"))
        row("largest tag page (en)", sizes(max(tag_pages, key=lambda p: p.stat().st_size)))
        # The listing's first page holds 100 rows; with JavaScript it loads every row from rows.json.
        row("papers listing rows.json (en)", sizes(site / "papers" / "rows.json"))
        for lang, folder in (("en", site), ("zh", site / "zh")):  # digest/search.py: shown docs + term postings
            row(f"search index ({lang})", sizes(folder / "search" / "search_index.json", folder / "search" / "terms.json"))
        if not args.no_browser:
            shown, seen, caught_up = serve_latency(root, files[len(files) // 3])
            row("digest serve: edit -> open page shows it", f"{shown:.2f} s (Chromium's paint; its poll saw it "
                f"at {seen:.2f} s)")
            row("digest serve: edit -> listing shows it", f"{caught_up:.2f} s (Chromium)")
        end_speed = machine_speed()
        row("machine: a fixed Python loop, one core / two at once (at the start; at the end)",
            f"{start_speed[0]:.2f} s / {start_speed[1]:.2f} s; {end_speed[0]:.2f} s / {end_speed[1]:.2f} s")
    print(f"| {args.n} records | |\n|---|---|")
    for name, value in ROWS:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
