"""A catalog from a JSON or CSV file, for channels without MediaCMS, and the demo catalog
shipped with webqueue (`demo_catalog.json`) that the embedded default indexes."""
