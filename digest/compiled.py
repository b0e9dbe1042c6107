"""Templates compiled once: Jinja's bytecode of the generator's and the theme's templates, kept between builds.

Jinja compiles a template to Python the first time an environment loads it, a tenth of a second for a large one;
a first build's two language workers did it twice, each for the same fifty templates (half a second of each
worker). `TemplateCache` keeps the compiled code under `.cache/`, and `precompile` fills it in a process of its
own while the build's process finishes loading the records (one core is idle then), so the workers load what it
compiled instead.

Jinja keys its cache by the template's name and source only, while the code it compiles also depends on the
environment: its syntax settings, extensions, finaliser, and which filters and tests exist and what they are
passed (a filter that takes the context is called differently). `TemplateCache` keys by those too, so that code
compiled by one environment is never run by another that would have compiled it differently: it is compiled
again instead.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import weakref
from pathlib import Path

import jinja2
import jinja2.meta
from jinja2.utils import _PassArg

THEME_TEMPLATES = ("main.html", "404.html", "sitemap.xml")  # what MkDocs renders with the theme


def settings_key(env: jinja2.Environment) -> str:
    """A hash of what compiling a template depends on in `env`, besides the template's source."""
    def passes(functions: dict) -> list:
        return sorted((name, str(_PassArg.from_obj(f))) for name, f in functions.items())

    autoescape = env.autoescape if isinstance(env.autoescape, bool) else getattr(env.autoescape, "__qualname__", "?")
    finalize = None if env.finalize is None else str(_PassArg.from_obj(env.finalize))
    settings = (jinja2.__version__, type(env).__qualname__, env.block_start_string, env.block_end_string,
                env.variable_start_string, env.variable_end_string, env.comment_start_string,
                env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks,
                env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline, sorted(env.extensions),
                env.optimized, autoescape, finalize, env.is_async, passes(env.filters), passes(env.tests))
    return hashlib.sha256(repr(settings).encode()).hexdigest()


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's bytecode cache in a folder, keyed by the template's name, file and source and by the environment's
    `settings_key`. Files are written whole and renamed into place (Jinja's own), so processes can share it."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(str(folder))
        # environment -> its settings_key, computed at its first template (weakly held: an id could be reused)
        self.keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_bucket(self, environment, name, filename, source):
        key = self.keys.get(environment)
        if key is None:  # filters are registered after the environment is made: read them when it first loads
            key = self.keys[environment] = settings_key(environment)
        return super().get_bucket(environment, f"{name}\0{key}", filename, source)


def compile_closure(env: jinja2.Environment, names) -> int:
    """Compile into the environment's cache each template named and every template they extend,
    include or import by a constant name; returns how many are in the cache now. A template that does not
    compile here is left to the build, which reports it."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:  # what Jinja's loader does, with the syntax tree parsed once for both uses
            source, filename, _ = env.loader.get_source(env, name)
            tree = env.parse(source, name, filename)
            todo += [n for n in jinja2.meta.find_referenced_templates(tree) if n]
            bucket = env.bytecode_cache.get_bucket(env, name, filename, source)
            if bucket.code is None:
                bucket.code = env.compile(tree, name, filename)
                env.bytecode_cache.set_bucket(bucket)
        except Exception:  # noqa: BLE001 - the build loads it again and reports what is wrong
            seen.discard(name)
    return len(seen)


def precompile(work) -> multiprocessing.Process | None:
    """Run `work` (which compiles templates into their caches) in a forked process, started now; None where
    processes cannot be forked or there is one core. Its caller's workers need not wait for it: a template not
    compiled yet is compiled by whichever worker needs it. The caller joins it when its own work is done."""
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    process = multiprocessing.get_context("fork").Process(target=_quietly, args=(work,), name="digest-compile",
                                                          daemon=True)
    process.start()
    return process


def _quietly(work) -> None:
    try:
        work()
    except Exception:  # noqa: BLE001 - compiling ahead is an optimisation: the build compiles what it needs
        pass
