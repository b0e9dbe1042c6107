"""Hostile inputs against the real commands: how many were tried, and how many gave a traceback, an unlocated
error or a changed site (each must be 0). Also the billion-laughs record's time and memory under `digest check`.

    python bench/hostile.py          # 12 cloned records, ~40 hostile files, seeded random bytes, hostile demos

Each input is dropped into content/papers/ (or given to `digest import`) beside good records, then
`digest build` runs as a user runs it (a subprocess); the site built before must be byte-identical after.
Hostile demos (the test fixture's tiny demo told to fail, hang, hog memory, print without end or write outside
its folder) must stop `digest build` with a located error naming the demo, leave the site as it was, write
nothing outside their folder, and let `digest build --keep-going` build the rest.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.corpus import make_project  # noqa: E402

LAUGHS = ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))).encode()


def hostile_records(good: str) -> dict[str, bytes]:
    """File name -> bytes: each one a record `digest check` must refuse with a located problem."""
    enc = good.encode()
    cases = {
        "nul": good.replace("title:", "ti\0tle:").encode(),
        "escape-char": good.replace("title:", "ti\x1btle:").encode(),
        "utf16-bom": good.encode("utf-16"), "utf16-le": good.encode("utf-16-le"), "utf16-be": good.encode("utf-16-be"),
        "utf32": good.encode("utf-32"), "gbk": good.encode("gbk", "replace"), "gb18030": good.encode("gb18030"),
        "latin1-byte": enc.replace(b"title", b"t\xe9tle", 1), "bad-byte": enc.replace(b"title", b"t\xfftle", 1),
        "truncated-utf8": enc[: enc.index("\u4e2d".encode()[:1])] + b"\xe4\xb8" if "\u4e2d" in good else enc + b"\xe4",
        "bom-then-utf16": b"\xef\xbb\xbf" + good.encode("utf-16-le"),
        "50mb": b"id: x\ntitle: " + b"x" * (50 * 1024**2),
        "billion-laughs": LAUGHS, "merge-key": b"x: &x {a: 1}\ny:\n  <<: *x\n", "merge-inline": b"y:\n  <<: {a: 1}\n",
        "python-tag": b"id: !!python/object/apply:os.system [echo hi]\n", "float-tag": b"id: !!float abc\n",
        "set-tag": b"a: !!set {x, y}\n", "binary-tag": b"a: !!binary '@@'\n", "local-tag": b"a: !mine x\n",
        "complex-key": b"? [a, b]\n: c\n", "alias-key": b"a: &k x\n*k : y\n",
        "deep-flow": b"a: " + b"[" * 100_000 + b"]" * 100_000, "deep-flow-unclosed": b"a: " + b"{a: " * 50_000,
        "deep-block": ("a:\n" + "".join("  " * i + "- \n" for i in range(200))).encode(),
        "long-line": b"id: " + b"x" * 900_000 + b"\n", "long-key": b"k" * 5000 + b": 1\n",
        "empty": b"", "only-comment": b"# nothing\n", "scalar": b"just text\n", "list": b"- a\n- b\n",
        "two-documents": enc + b"\n---\n" + enc, "tab-indent": b"id: x\ntitle:\n\ten: x\n",
        "dup-key": enc.replace(b"venue:", b"venue: X\nvenue:", 1),
        "dup-citation-key": good.replace("id: ", "id: dup-citation-key\n#", 1).encode(),
        "wrong-id": good.encode(),
        "surrogate-escape": b'id: "\\ud800"\n', "nel": "id: a\x85b\n".encode(), "impossible-date": b"published: 2024-13-45\n",
        "huge-int": b"id: " + b"9" * 5000 + b"\n", "null-key": b"~: x\n",
    }
    rng = random.Random(11)
    for i in range(20):  # seeded random bytes, and random bytes after a valid record's head
        cases[f"random-{i}"] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000)))
        cases[f"tail-{i}"] = enc[: rng.randint(0, len(enc))] + bytes(rng.getrandbits(8) for _ in range(8))
    return cases


def hostile_bibs() -> dict[str, bytes]:
    entry = "@article{a2020x, title={Caf\u00e9 {\\\"u}ber}, author={A B and C D}, year=2020, journal={J}}\n"
    return {"nul.bib": entry.replace("title", "ti\0tle").encode(), "utf16.bib": entry.encode("utf-16"),
            "latin1.bib": entry.encode("latin-1"), "30mb.bib": entry.encode() * (30 * 1024**2 // len(entry)),
            "unclosed.bib": b"@article{a, title={x" * 100, "dup.bib": (entry * 2).encode(),
            "random.bib": bytes(random.Random(3).getrandbits(8) for _ in range(3000))}


def site_hash(site: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(site.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(site).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


LOCATED = re.compile(r"^\s*(\S+):(\d+):(\d+): (error|warning): ")


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], cwd=root, capture_output=True, text=True,
                          errors="replace", env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def verdict(result: subprocess.CompletedProcess, must_fail: bool) -> str:
    """"" if the command answered as it should, else what went wrong: traceback, unlocated or exit status."""
    out = result.stdout + result.stderr
    if "Traceback" in out or "internal error" in out:
        return "traceback"
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    if any(not LOCATED.match(line) for line in errors):
        return "unlocated"
    if must_fail and (result.returncode != 1 or not errors):
        return f"exit {result.returncode}"
    return ""


def laughs_figures(root: Path) -> tuple[float, float]:
    """Seconds and peak MB of `digest check` on a project holding the billion-laughs record (a child process of
    its own, so its peak memory is its own)."""
    code = ("import resource, sys, time; from pathlib import Path; t = time.perf_counter()\n"
            "from digest.build import check\nfrom digest.problems import DigestError\n"
            "try: check(Path('.'))\nexcept DigestError as e: assert any('aliases' in p.message for p in e.problems)\n"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    (root / "content" / "papers" / "billion-laughs.yaml").write_bytes(LAUGHS)
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": str(REPO)}).stdout.split()
    finally:
        (root / "content" / "papers" / "billion-laughs.yaml").unlink()
    return float(out[0]), float(out[1])


def unquoted(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """`result` without the demo's own output (echoed live as `alpha-video: ...`, quoted by the error as `| ...`):
    a traceback there is the demo's, not digest's."""
    keep = lambda text: "\n".join(line for line in text.splitlines()  # noqa: E731
                                   if not line.lstrip().startswith(("|", "alpha-video: ")))
    return subprocess.CompletedProcess(result.args, result.returncode, keep(result.stdout), keep(result.stderr))


DEMO_MODES = ("fail", "hang", "hog", "spew", "escape", "write {tmp} {home} {content}")


def hostile_demos(bad: dict[str, list[str]]) -> int:
    """Run `digest build` (then with --keep-going) on a small project whose one demo misbehaves, once per mode;
    adds what went wrong to `bad`, returns how many modes were tried."""
    sys.path.insert(0, str(REPO))
    from tests.conftest import make_project as fixture_project

    with tempfile.TemporaryDirectory() as tmp:
        root = fixture_project(Path(tmp), with_impl=True)
        cache = root / ".cache" / "demos"  # a failed run is cached like a good one (MODE is no source): cleared
        for mode in DEMO_MODES:
            shutil.rmtree(cache, ignore_errors=True)
            assert run(root, "build").returncode == 0
            before = site_hash(root / "site")
            shutil.rmtree(cache, ignore_errors=True)
            name = f"demo-{mode.split()[0]}"
            targets = {"tmp": Path(tempfile.gettempdir()) / "digest-hostile-demo",
                       "home": Path.home() / ".digest-hostile-demo",
                       "content": root / "content" / "papers" / "digest-hostile-demo.yaml"}
            sources = {p: p.read_bytes() for p in (root / "reference_impls" / "tiny").glob("*.py")}
            (root / "reference_impls" / "tiny" / "MODE").write_text(mode.format(**targets))
            result = unquoted(run(root, "build", "--demo-timeout", "10"))
            problem = verdict(result, must_fail=True)
            if problem:
                bad["wrong exit" if problem.startswith("exit") else problem].append(f"{name}: {problem}")
            elif "demo of `alpha-video` failed: " not in result.stderr:
                bad["unlocated"].append(f"{name}: the demo is not named")
            if site_hash(root / "site") != before:
                bad["changed site"].append(name)
            written = [str(t) for t in targets.values() if t.exists()] + \
                [p.name for p, data in sources.items() if p.read_bytes() != data]
            if written:
                bad["changed site"].append(f"{name} wrote {written}")
            for target in targets.values():
                target.unlink(missing_ok=True)
            for path, data in sources.items():
                path.write_bytes(data)
            shutil.rmtree(cache, ignore_errors=True)
            kept_going = unquoted(run(root, "build", "--keep-going", "--demo-timeout", "10"))
            if kept_going.returncode != 0 or "Traceback" in kept_going.stdout + kept_going.stderr:
                bad["wrong exit"].append(f"{name} --keep-going: exit {kept_going.returncode}")
            (root / "reference_impls" / "tiny" / "MODE").unlink()
    return len(DEMO_MODES)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_project(root, 12)
        built = run(root, "build")
        assert built.returncode == 0, built.stderr
        before = site_hash(root / "site")
        good = files[0].read_text(encoding="utf-8")
        tried, bad = 0, {"traceback": [], "unlocated": [], "changed site": [], "wrong exit": []}
        start = time.perf_counter()
        for name, data in hostile_records(good).items():
            target = root / "content" / "papers" / f"{name}.yaml"
            target.write_bytes(data)
            result = run(root, "build")
            target.unlink()
            tried += 1
            problem = verdict(result, must_fail=True)
            if problem:
                bad["wrong exit" if problem.startswith("exit") else problem].append(f"{name}: {problem}")
            if site_hash(root / "site") != before:
                bad["changed site"].append(name)
        for name, data in hostile_bibs().items():
            (root / name).write_bytes(data)
            result = run(root, "import", name, "--dry-run")
            tried += 1
            problem = verdict(result, must_fail=False)
            if problem:
                bad["wrong exit" if problem.startswith("exit") else problem].append(f"{name}: {problem}")
        tried += hostile_demos(bad)
        seconds, megabytes = laughs_figures(root)
        print(f"hostile inputs tried: {tried} ({time.perf_counter() - start:.0f} s)")
        for kind, names in bad.items():
            print(f"  {kind}: {len(names)}" + (f"  {names[:5]}" if names else ""))
        print(f"billion laughs (1 KB, 9^9 expansion): digest check answered in {seconds:.2f} s, peak {megabytes:.0f} MB")


if __name__ == "__main__":
    main()
