"""Record-level ingest (the REST API's write path), one module per use case."""
