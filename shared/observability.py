"""Logger and metrics for every function: one module, so they are configured once.

Powertools reads ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` from the
function's environment. Tracing is not imported here: the X-Ray SDK costs cold start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.fields import pii_fields

logger = Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics", "redact"]

REDACTED = "***"


def redact(values: Mapping[str, Any], pii: Iterable[str] | None = None) -> dict[str, Any]:
    """A copy of ``values`` safe to log: PII fields replaced by a marker."""
    hidden = pii_fields() if pii is None else frozenset(pii)
    return {name: (REDACTED if name in hidden else value) for name, value in values.items()}
