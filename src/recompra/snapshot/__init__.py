"""The analytics snapshot: the operational data as Parquet/Arrow tables with a fixed schema.

Every analytics engine (DuckDB, Spark), the synthetic generator and the recommenders read
or write these tables; the operational database is exported into them by
:mod:`recompra.snapshot.export`.
"""
