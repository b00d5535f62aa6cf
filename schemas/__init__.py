"""The single source of truth for Refinery's data contracts.

Everything that describes the shape of data is defined here once and derived elsewhere: the Parquet
schemas written by the pipeline, the closed list of reject reasons, the column documentation in the
README (``python -m refinery.schemas``) and the expectation suite in ``refinery.validators``.
"""

from refinery.schemas.reasons import RejectReason, Stage
from refinery.schemas.records import (
    ERRORS_SCHEMA,
    REFINED_SCHEMA,
    REJECTED_SCHEMA,
    SCHEMA_VERSION,
    column_docs,
    with_run_metadata,
)

__all__ = [
    "ERRORS_SCHEMA",
    "REFINED_SCHEMA",
    "REJECTED_SCHEMA",
    "SCHEMA_VERSION",
    "RejectReason",
    "Stage",
    "column_docs",
    "with_run_metadata",
]
