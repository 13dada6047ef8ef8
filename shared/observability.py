"""Logger and metrics for every function: one module, so they are configured once.

Powertools reads ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` from the
function's environment. Tracing is not imported here: the X-Ray SDK costs cold start.
"""

from __future__ import annotations

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

# Lambda's log level (LoggingConfig ApplicationLogLevel) sets the runtime's root logger, and
# every library logger inherits it: at DEBUG, botocore logs each request's parameters and
# body (emails and other profile values included). The application's level is for the
# application; the AWS SDK and its HTTP stack log warnings and errors only, whatever it is.
for _library in ("botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_library).setLevel(logging.WARNING)

# An invocation that counts nothing (a sign-in on the read-only path) is normal: powertools
# would warn about it on every such invocation, into the function's logs.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

__all__ = ["MetricUnit", "logger", "metrics"]
