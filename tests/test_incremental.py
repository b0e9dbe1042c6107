"""One page rebuilt with MkDocs' own functions is byte for byte the page of a full build."""

from digest.build import language_config, resolve_site_url
from digest.incremental import PageBuilder


def test_a_page_rebuilt_alone_is_the_page_of_the_full_build(built_site, tmp_path):
    for lang, site in (("en", built_site / "site"), ("zh", built_site / "site" / "zh")):
        config, settings = language_config(built_site, lang, resolve_site_url(built_site))
        builder = PageBuilder(config, built_site / "build" / "docs" / lang, tmp_path / lang, **settings)
        for page in ("papers/alpha-video.md", "papers/index.md", "index.md"):
            written = builder.build_page(page)
            rel = written.relative_to(tmp_path / lang)
            assert written.read_bytes() == (site / rel).read_bytes(), (lang, page)
