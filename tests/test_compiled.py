"""Compiled templates kept between builds (digest/compiled.py): shared only by environments that compile alike."""

import jinja2

from digest.compiled import TemplateCache, compile_closure


def environment(folder, cache, **options) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), bytecode_cache=TemplateCache(cache), **options)
    env.filters["f"] = lambda value: value.upper()
    return env


def test_code_compiled_by_one_environment_is_not_run_by_one_that_compiles_otherwise(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.j2").write_text("{% if a %}\n{{ a|f }}\n{% endif %}\n", encoding="utf-8")
    cache = tmp_path / "cache"
    assert environment(tmp_path / "t", cache).get_template("x.j2").render(a="b") == "\nB\n"
    # Jinja's own cache keys by name and source alone: these two would run the first one's code.
    assert environment(tmp_path / "t", cache, trim_blocks=True).get_template("x.j2").render(a="b") == "B\n"
    env = environment(tmp_path / "t", cache)
    env.filters["f"] = jinja2.pass_context(lambda context, value: value * 2)  # now takes the context
    assert env.get_template("x.j2").render(a="b") == "\nbb\n"
    assert len(list(cache.iterdir())) == 3
    # The same settings again: the kept code is run, not compiled again.
    again = environment(tmp_path / "t", cache)
    again.compile = None  # compiling would fail
    assert again.get_template("x.j2").render(a="b") == "\nB\n"


def test_compile_closure_compiles_what_a_template_extends_includes_and_imports(tmp_path):
    (tmp_path / "t").mkdir()
    for name, text in {"main.html": '{% extends "base.html" %}{% block b %}{% include "part.html" %}{% endblock %}',
                       "base.html": '{% import "macros.html" as m %}<p>{% block b %}{% endblock %}</p>',
                       "macros.html": "{% macro x() %}x{% endmacro %}", "part.html": "{{ y|f }}",
                       "unused.html": "u", "broken.html": "{% if %}"}.items():
        (tmp_path / "t" / name).write_text(text, encoding="utf-8")
    cache = tmp_path / "cache"
    assert compile_closure(environment(tmp_path / "t", cache), ["main.html", "broken.html"]) == 4
    again = environment(tmp_path / "t", cache)
    again.compile = None
    assert again.get_template("main.html").render(y="z") == "<p>Z</p>"
