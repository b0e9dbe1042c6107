"""Paper Digest: YAML paper records -> a bilingual MkDocs + Material site (one module per pipeline stage)."""
