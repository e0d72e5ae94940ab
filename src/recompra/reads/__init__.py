"""The read model shared by the API and the dashboard, so that both show the same numbers.

``models`` (what a read answers), ``kpis`` (the analytics outputs: KPIs, segments,
cohorts), ``scores`` (per-customer scores), ``customers``, ``loyalty``,
``recommendations`` (the precomputed index) and ``outputs`` (safe reads of the files the
pipeline writes). It imports neither :mod:`recompra.api` nor :mod:`recompra.web`.
"""
