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
    names = re.search(r'{%- for name in \[(.*?)\] -%}', (REPO / "overrides" / "main.html").read_text(encoding="utf-8"))
    assert names, "overrides/main.html no longer lists the icons it draws from assets/icons.svg"
    listed = re.findall(r'"([\w-]+)"', names.group(1))
    assert sorted(listed) == sorted(symbols)
    for name, inner in symbols.items():
        inline = (ICONS / f"{name}.svg").read_text(encoding="utf-8").strip()
        assert inline == f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">{inner}</svg>', name
