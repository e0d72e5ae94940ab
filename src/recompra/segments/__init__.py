"""Live segments: rule-tree definitions, live membership, entry/exit events and goals.

* :mod:`~recompra.segments.fields` and :mod:`~recompra.segments.definition`: the rule
  language and its validation;
* :mod:`~recompra.segments.compile`: a rule tree as one SQL query (hub dialects, and
  rendered for DuckDB);
* :mod:`~recompra.segments.full`: full evaluation in DuckDB over a copy of the hub rows
  the rules read, diffed against the current members;
* :mod:`~recompra.segments.service`: the write path (apply versions, evaluate, record
  membership changes; :func:`~recompra.segments.service.reevaluate_customers` for the
  write paths of orders, returns, reviews, events, scores and loyalty);
* :mod:`~recompra.segments.queries`: reads (members, history, events, preview);
* :mod:`~recompra.segments.flows`: nightly full re-evaluation and exports;
* :mod:`~recompra.segments.goals`: KPI targets per segment and their progress.
"""
