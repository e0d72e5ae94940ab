"""Analytics engines: the one place where DuckDB and Spark differences live."""
