"""What keeps every page light: the header's larger icons come from assets/icons.svg (overrides/main.html), which
must draw what the installed Material would have drawn inline."""

import re
from pathlib import Path

import material

from tests.conftest import REPO

ICONS = Path(material.__file__).parent / "templates" / ".icons" / "material"


def test_the_icon_file_draws_materials_own_icons():
    sprite = (REPO / "templates" / "assets" / "icons.svg").read_text(encoding="utf-8")
    symbols = dict(re.findall(r'<symbol id="([\w-]+)" viewBox="0 0 24 24">(.*?)</symbol>', sprite))
    names = re.search(r'{%- set icon_names = \[(.*?)\] -%}', (REPO / "overrides" / "main.html").read_text(encoding="utf-8"))
    assert names, "overrides/main.html no longer lists the icons it draws from assets/icons.svg"
    listed = re.findall(r'"([\w-]+)"', names.group(1))
    listed += re.findall(r"icons\.svg' \| url }}#([\w-]+)", (REPO / "overrides" / "partials" / "top.html").read_text(encoding="utf-8"))
    assert sorted(listed) == sorted(symbols)
    for name, inner in symbols.items():
        inline = (ICONS / f"{name}.svg").read_text(encoding="utf-8").strip()
        assert inline == f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">{inner}</svg>', name


def test_the_colour_scheme_script_is_materials_own_from_a_cached_file(built_site):
    from digest.build import material_palette_script

    site = built_site / "site"
    partial = (Path(material.__file__).parent / "templates" / "partials" / "javascripts" / "palette.html")
    script = material_palette_script().decode("utf-8").strip()
    assert f"<script>{script}</script>" in partial.read_text(encoding="utf-8")
    assert (site / "assets" / "palette.js").read_text(encoding="utf-8").strip() == script
    for page in [site / "papers" / "index.html", site / "zh" / "index.html", site / "404.html"]:
        html = page.read_text(encoding="utf-8")
        assert script not in html and re.search(r'<script src="[./]*(zh/)?assets/palette\.js"></script>', html)


def test_no_content_tab_script_while_the_site_has_no_content_tabs():
    extensions = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    override = REPO / "overrides" / "partials" / "javascripts" / "content.html"
    assert "pymdownx.tabbed" not in extensions or not override.exists(), \
        "content tabs need Material's partials/javascripts/content.html: remove the override"


def test_squeezed_html_keeps_whitespace_where_it_is_shown():
    from digest.build import squeeze_html

    html = ('<div>\n    <p>a\n\n   b</p>\n  <pre><code>x\n    y</code></pre>\n\t<code>p  \n  q</code>'
            '<script>if (a)\n    b()</script>\n    <textarea>\n  t</textarea>\n\n\xa0c</div>')
    assert squeeze_html(html) == ('<div>\n<p>a\nb</p>\n<pre><code>x\n    y</code></pre>\n<code>p  \n  q</code>'
                                  '<script>if (a)\n    b()</script>\n<textarea>\n  t</textarea>\n\xa0c</div>')
