"""The metrics layer: every number clearcount publishes, defined once (``definitions.py``)
and turned into SQL in one place (``query.py``) for the report, the Stats API and the
notebooks."""

from pipelines.analysis.metrics.definitions import (
    DIMENSIONS,
    EMAIL_METRICS,
    METRICS,
    PAGE_DIMENSIONS,
    VISIT_DIMENSIONS,
    Metric,
)
from pipelines.analysis.metrics.query import (
    NAMED_TABLES,
    MetricsError,
    aggregate_sql,
    bind,
    breakdown_metrics,
    breakdown_sql,
    email_campaigns_sql,
    named_sql,
    params,
    rows,
    timeseries_sql,
)

__all__ = [
    "DIMENSIONS",
    "EMAIL_METRICS",
    "METRICS",
    "NAMED_TABLES",
    "PAGE_DIMENSIONS",
    "VISIT_DIMENSIONS",
    "Metric",
    "MetricsError",
    "aggregate_sql",
    "bind",
    "breakdown_metrics",
    "breakdown_sql",
    "email_campaigns_sql",
    "named_sql",
    "params",
    "rows",
    "timeseries_sql",
]
