"""Rebuild single pages of a built site with MkDocs' own functions (the edge between digest and MkDocs).

`digest serve` uses it to show an edited record's page within a second: the page's Markdown is converted and
written into the live site exactly as `mkdocs build` would write it, and the full build follows to bring the
listings, tag pages, feeds and search index up to date.
"""

from __future__ import annotations

import os
from pathlib import Path

from digest.build import SOURCE_DATE_EPOCH, prepare_config


class PageBuilder:
    """MkDocs' configuration, files, navigation and theme of one language's site, loaded once."""

    def __init__(self, config_file: Path, docs_dir: Path, site_dir: Path, **settings):
        from mkdocs.commands.build import get_navigation
        from mkdocs.config import load_config
        from mkdocs.structure.files import get_files, set_exclusions

        os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
        config = load_config(config_file=str(config_file), docs_dir=str(docs_dir), site_dir=str(site_dir),
                             **settings)
        prepare_config(config)
        self.config = config = config.plugins.on_config(config)
        config.plugins.on_pre_build(config=config)
        files = get_files(config)
        env = config.theme.get_env()
        files.add_files_from_theme(env, config)
        self.files = files = config.plugins.on_files(files, config=config)
        set_exclusions(files, config)
        self.nav = config.plugins.on_nav(get_navigation(files, config), config=config, files=files)
        self.env = config.plugins.on_env(env, config=config, files=files)

    def has(self, src_uri: str) -> bool:
        return self.files.get_file_from_path(src_uri) is not None

    def build_page(self, src_uri: str) -> Path:
        """Read, convert and write one Markdown page (`papers/x.md`); returns the HTML file written."""
        from mkdocs.commands.build import _build_page, _populate_page
        from mkdocs.structure.pages import Page

        file = self.files.get_file_from_path(src_uri)
        page = file.page or Page(None, file, self.config)  # pages in the nav got theirs from the nav
        _populate_page(page, self.config, self.files)
        _build_page(page, self.config, self.files.documentation_pages(), self.nav, self.env)
        return Path(file.abs_dest_path)
