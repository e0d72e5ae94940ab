"""Customer analytics: RFM segments, clusters, cohorts and KPIs on DuckDB or Spark.

Every metric is defined once, as SQL that both engines run (see
:mod:`recompra.engines.base`); the Python layer only post-processes small results.
Entry points: :func:`run_analytics`, :func:`write_outputs`, :func:`render_report`.
"""

from recompra.analytics.flows import AnalyticsResult, analyze_engine, run_analytics
from recompra.analytics.kpis import acquisition_cost, conversion_rate
from recompra.analytics.rfm import SEGMENTS, SegmentKey, segment_of
from recompra.analytics.transitions import transition_matrix, transitions

__all__ = [
    "SEGMENTS",
    "AnalyticsResult",
    "SegmentKey",
    "acquisition_cost",
    "analyze_engine",
    "conversion_rate",
    "run_analytics",
    "segment_of",
    "transition_matrix",
    "transitions",
]
