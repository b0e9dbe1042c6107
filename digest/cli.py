"""`digest`: the command line. Each command parses its options and calls the library; errors exit 1, cleanly."""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
import threading
import traceback
from collections import defaultdict
from pathlib import Path

import click

from digest.problems import DigestError, Problem

ROOT_HELP = "project folder (holds content/ and mkdocs.yml)"
# Set by SIGTERM as well as raised: a KeyboardInterrupt that lands where Python ignores exceptions (an at-fork
# hook of the logging module while a build forks its workers) is lost, and `digest serve` still sees this and stops.
TERMINATED = threading.Event()


def _interrupt_on_sigterm():
    """SIGTERM (a process manager stopping `digest serve`, a cancelled CI job) ends a command as Ctrl-C does: a
    build removes its unfinished files and stops its language workers, serve closes its port. By default the
    process would just end, and a build's forked workers would go on writing into the project. Returns the
    handler it replaced (None off the main thread, where no handler can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    command = os.getpid()

    def interrupt(signum, frame):
        if os.getpid() != command:  # a forked worker inherits the handler: it ends as SIGTERM ends a process
            os._exit(128 + signum)
        TERMINATED.set()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _clean_exit(func):
    """Turn DigestError into its message on stderr and exit status 1: no traceback for the user's mistakes."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        previous = _interrupt_on_sigterm()
        try:
            return func(*args, **kwargs)
        except DigestError as exc:
            print_problems(exc.problems)
            raise SystemExit(1) from None
        except BrokenPipeError:  # the reader of the output went away (`digest build | head`): end quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in digest: say so plainly, traceback on request
            if os.environ.get("DIGEST_TRACEBACK"):
                raise
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            click.secho(f"internal error (a bug in digest, not in your records): {type(exc).__name__}: {exc}\n"
                        f"  at {Path(frame.filename).name}:{frame.lineno}; run again with DIGEST_TRACEBACK=1 and "
                        "report the output with the record that triggers it", fg="red", err=True)
            raise SystemExit(2) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def print_problems(problems: list[Problem]) -> None:
    by_file: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_file[problem.path].append(problem)
    for path, items in sorted(by_file.items()):
        if path:
            click.secho(path, bold=True, err=True)
        for problem in sorted(items):
            color = "red" if problem.severity == "error" else "yellow"
            click.secho("  " + problem.format().replace("\n", "\n  "), fg=color, err=True)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        click.secho(f"{errors} error(s), {warnings} warning(s)", fg="red", err=True)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    for name in ("mkdocs", "material"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.WARNING)
        log.propagate = False


@click.group()
@click.version_option(package_name="paper-digest")
def main():
    """Paper Digest: YAML paper records -> a bilingual MkDocs + Material site."""
    for stream in (sys.stdout, sys.stderr):  # under an ASCII locale, a record's text must not crash the printing
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    _setup_logging()


@main.command("check")
@click.option("--strict", is_flag=True, help="treat warnings (missing translations, TODOs, terms) as errors")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def check_command(strict: bool, root: Path):
    """Validate every record; print every problem with file:line:col."""
    from digest.build import check
    from digest.validate import summary_line

    project, warnings = check(root, strict)
    click.echo(summary_line(project))
    if warnings:
        print_problems(warnings)
    click.secho("no errors" + (f" ({len(warnings)} warning(s))" if warnings else ""), fg="green")


@main.command("build")
@click.option("--strict", is_flag=True, help="treat warnings as errors")
@click.option("--keep-going", is_flag=True, help="build the site even when a demo fails (its page says so)")
@click.option("--demo-timeout", type=float, default=None,
              help="seconds per demo [default: 120; memory, output, file size capped too: DEMO_LIMITS in digest/demos.py]")
@click.option("--clean", is_flag=True, help="rebuild the site even when no input changed since the last build")
@click.option("--site-url", metavar="URL", help="the address the site is published at, e.g. "
              "https://<group>.github.io/<repo>/ (default: $DIGEST_SITE_URL, else mkdocs.yml's site_url)")
@click.option("--engine", type=click.Choice(["mkdocs", "zensical"]), default="mkdocs", show_default=True,
              help="what builds the HTML: MkDocs + Material, or Zensical (pip install zensical; README: Zensical)")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def build_command(strict: bool, keep_going: bool, demo_timeout: float, site_url: str | None, engine: str,
                  clean: bool, root: Path):
    """Run changed demos, render both languages and build the site into site/."""
    report = _build_module().build_site(root, strict=strict, keep_going=keep_going, timeout=demo_timeout,
                                        echo=click.echo, site_url=site_url, engine=engine, clean=clean)
    if report.warnings:
        print_problems(report.warnings)
    total = sum(report.seconds.values())
    click.secho(f"built {report.site} ({', '.join(f'{k}: {v} pages' for k, v in report.pages.items())}) "
                f"in {total:.1f} s", fg="green")


def _build_module():
    """digest.build, imported with the cyclic garbage collector off and its objects then left out of its walks
    (`gc.freeze`): the modules (pydantic's models, Jinja, YAML) live as long as the command, and the collections
    that importing them set off walked them for nothing (0.015-0.025 s of a build's start)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        import digest.build

        gc.freeze()
        return digest.build
    finally:
        if enabled:
            gc.enable()


@main.command("serve")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def serve_command(port: int, root: Path):
    """Build, serve site/ on localhost, and rebuild when a record, template or implementation changes."""
    from digest.serve import serve

    serve(root, port, echo=click.echo, on_problems=print_problems, stop=TERMINATED)


@main.command("demo")
@click.argument("paper_id", required=False)
@click.option("--list", "list_", is_flag=True, help="list the papers that have a demo")
@click.option("--force", is_flag=True, help="run even if the cached outputs are current")
@click.option("--timeout", type=float, default=None, help="seconds [default: 120, DEMO_LIMITS in digest/demos.py]")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def demo_command(paper_id: str | None, list_: bool, force: bool, timeout: float, root: Path):
    """Run one paper's reference demo and print its metrics and claims."""
    from digest.build import build_lock, check
    from digest.demos import cached_run, failure_message, run_demo

    project, _ = check(root)
    with_demo = sorted((p for p in project.papers.values() if p.impl is not None), key=lambda p: p.id)
    if list_ or not paper_id:
        for paper in sorted(with_demo, key=lambda p: p.id):
            run = cached_run(project.root, paper)
            state = "not run" if run is None else ("ok" if run.ok else "FAILED") + \
                f", claims {run.claims_passed}/{len(paper.claims)}"
            click.echo(f"{paper.id:40} {paper.impl.path:48} {state}")
        return
    paper = project.papers.get(paper_id)
    if paper is None or paper.impl is None:
        import difflib

        close = difflib.get_close_matches(paper_id, [p.id for p in with_demo], n=1)
        raise DigestError(f"no demo for `{paper_id}`" + (f"; did you mean `{close[0]}`?" if close else
                                                           "; `digest demo --list` lists them"))
    with build_lock(project.root):  # a build running now would publish half-written outputs of this demo
        run = run_demo(project.root, paper, timeout=timeout, force=force, echo=click.echo)
    if not run.ok:
        raise DigestError(failure_message(paper_id, run.error_tail))
    click.echo(f"{paper.id}: {'cached outputs (use --force to run again)' if run.cached else f'ran in {run.seconds} s'}")
    width = max((len(m.label_en) for m in run.metrics), default=10)
    for metric in run.metrics:
        click.echo(f"  {metric.label_en:{width}}  {metric.value_text}")
    for figure in run.figures:
        click.echo(f"  figure: {run.out_dir / figure.file}")
    for claim in paper.claims:
        status = run.claims.get(claim.test)
        click.echo(f"  claim {claim.id}: {status.outcome if status else 'not run'}")


@main.command("schema")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def schema_command(root: Path):
    """Write schema/*.schema.json from the models in digest/schema.py."""
    from digest.load import load_project
    from digest.schema import write_schemas

    project, _ = load_project(root)
    for path in write_schemas(root, sorted(project.tags)):
        click.echo(f"wrote {path}")


@main.command("translations")
@click.option("--stamp", "stamp_id", metavar="ID", help="mark this record's translations as current (after review)")
@click.option("--from", "source", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="with --stamp: the source language of fields that have no stamp yet")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def translations_command(stamp_id: str | None, source: str, root: Path):
    """List every translation whose source text changed since it was made, or stamp a record as current."""
    from digest.build import check
    from digest.problems import relative
    from digest.translations import stale_translations, stamp_record

    project, _ = check(root)
    if stamp_id:
        path = stamp_record(project, stamp_id, source)
        click.echo(f"stamped {relative(path, root)}: its translations are current")
        return
    stale = stale_translations(project)
    for item in stale:
        src = project.source("paper", item.paper)
        line, _ = src.locate(item.path + (item.target,))
        source_line, _ = src.locate(item.path + (item.source,))
        click.echo(f"{src.rel}:{line}: {item.field}.{item.target} lags {item.field}.{item.source} "
                   f"(line {source_line}, changed since)")
    click.secho(f"{len(stale)} stale translation(s)" + (": update them, then `digest translations --stamp <id>`"
                                                        if stale else ""), fg="yellow" if stale else "green")


@main.command("new")
@click.argument("paper_id")
@click.option("--arxiv", "arxiv", metavar="ID", help="the paper's arXiv id: fills arxiv, the PDF link and the month "
              "(nothing is fetched; title and authors stay TODO)")
@click.option("--from-bib", "bib", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="a .bib file holding the paper's entry (with --key)")
@click.option("--key", metavar="KEY", help="the entry's citation key in --from-bib")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="a tag of content/tags.yaml (repeat for more)")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def new_command(paper_id: str, arxiv: str | None, bib: Path | None, key: str | None, tags: tuple[str, ...],
                root: Path):
    """Create content/papers/<id>.yaml and a runnable implementation skeleton, with TODOs to fill in."""
    from digest.scaffold import impl_name, new_paper

    for path in new_paper(root, paper_id, arxiv=arxiv, bib=bib, key=key, default_tags=tags):
        click.echo(f"created {path.relative_to(root).as_posix()}")
    name = impl_name(paper_id)
    click.echo(f"next: fill in the TODOs (`digest check` lists them), replace the placeholder mechanism in "
               f"reference_impls/{name}/ and run `digest demo {paper_id}`; then set `status: digested`, "
               "`digest check --strict` and `digest build`")


@main.command("start")
@click.argument("paper_id")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def start_command(paper_id: str, root: Path):
    """Begin the digest of a queued record: it becomes a draft with TODOs to fill and an implementation skeleton."""
    from digest.scaffold import impl_name, start_paper

    for path in start_paper(root, paper_id):
        click.echo(f"{'updated' if path.suffix == '.yaml' else 'created'} {path.relative_to(root).as_posix()}")
    click.echo(f"next: fill in the TODOs (`digest status` counts them), replace the placeholder mechanism in "
               f"reference_impls/{impl_name(paper_id)}/, then set `status: digested` and `digest build`")


@main.command("status")
@click.option("--top", type=int, default=10, show_default=True, help="how many drafts to list")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def status_command(top: int, root: Path):
    """How many records are queued, drafts and digested, and which drafts are closest to complete."""
    from digest.load import load_project
    from digest.validate import status_report

    project, _ = load_project(root)
    counts, drafts = status_report(project)
    click.echo(", ".join(f"{n} {state}" for state, n in counts.items()))
    if drafts:
        click.echo("drafts closest to complete (what each still needs):")
    for paper_id, todo in drafts[:top]:
        click.echo(f"  {paper_id}: {len(todo)} left" + (f": {'; '.join(todo[:3])}{' ...' if len(todo) > 3 else ''}"
                                                        if todo else ": set `status: digested`"))


@main.command("import")
@click.argument("bib", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--dry-run", is_flag=True, help="print the records that would be written; write nothing")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="tag every new record with this tag (repeat for more)")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def import_command(bib: Path, dry_run: bool, tags: tuple[str, ...], root: Path):
    """Queue one record per BibTeX entry of BIB; report skipped and bad entries, and unmapped fields, by line."""
    from digest.importer import plan_import, write_plan

    plan = plan_import(root, bib, default_tags=tags)
    for draft in plan.created:
        path = f"content/papers/{draft.paper_id}.yaml"
        if dry_run:
            click.echo(f"--- would write {path} (from {plan.source}:{draft.line}, {draft.key})")
            click.echo(draft.yaml_text())
    if not dry_run:
        for path in write_plan(root, plan):
            click.echo(f"created {path.relative_to(root).as_posix()}")
    for draft, why in plan.skipped:
        click.echo(f"skipped {plan.source}:{draft.line} {draft.key}: {why}")
    for draft in plan.created:
        if draft.unmapped:
            click.echo(f"not mapped {plan.source}:{draft.line} {draft.key}: {', '.join(draft.unmapped)}")
    if plan.problems:
        print_problems(plan.problems)
    verb = "would create" if dry_run else "created"
    line = (f"{plan.source}: {plan.entries} entries: {verb} {len(plan.created)} queued records "
            f"({sum('arxiv' in d.data for d in plan.created)} with an arXiv id), skipped {len(plan.skipped)} "
            f"already in the collection, {len(plan.errors)} not imported (errors above)")
    click.secho(line, fg="red" if plan.errors else "green")
    if plan.errors:
        raise SystemExit(1)


@main.command("export-bib")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="write here (default: stdout)")
@click.option("--all", "all_", is_flag=True, help="also the reading queue (queued records and drafts)")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".", help=ROOT_HELP)
@_clean_exit
def export_bib_command(output: Path | None, all_: bool, root: Path):
    """Write every digested paper's BibTeX entry (the site's papers.bib) to a file or stdout."""
    from digest.bibtex import library_text
    from digest.build import check

    from digest.render import by_date

    project, _ = check(root)
    papers = by_date((project.papers if all_ else project.digested).values())
    text = library_text(papers)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output} ({len(papers)} entries)", err=True)


def run() -> None:
    """The `digest` command: `main`, then what the interpreter does at exit (wait for the threads that are not
    daemons, run the exit handlers), then the process ends without the interpreter freeing each object the
    command made (a build's records and caches: a tenth of a second after a build of 1,000 papers; the operating
    system takes the memory back at once)."""
    import atexit

    try:
        main()
        code = 0
    except SystemExit as exc:  # how click's standalone mode ends
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
