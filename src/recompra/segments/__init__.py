"""Live segments: rule-tree definitions, live membership, entry/exit events and goals.

* :mod:`~recompra.segments.fields` and :mod:`~recompra.segments.definition`: the rule
  language and its validation;
* :mod:`~recompra.segments.compile`: a rule tree as one SQL query;
* :mod:`~recompra.segments.service`: the write path (apply versions, evaluate, record
  membership changes; :func:`~recompra.segments.service.reevaluate_customers` for the
  write paths of orders, returns, reviews, events, scores and loyalty);
* :mod:`~recompra.segments.queries`: reads (members, history, events, preview);
* :mod:`~recompra.segments.flows`: nightly full re-evaluation and exports;
* :mod:`~recompra.segments.goals`: KPI targets per segment and their progress.
"""
