"""The single source of truth for Refinery's data contracts.

Everything that describes the shape of data is defined once and derived elsewhere: the Parquet
schemas written by the pipeline, the closed list of reject reasons, the column documentation in the
README (``python -m refinery.schemas``) and the expectation suite in ``refinery.validators``. The
stages declare their own columns and reasons (``refinery.stages``); the modules here assemble them.

The names below are loaded on first use, so that a stage module can import a leaf module of this
package (``refinery.schemas.quality``) while the stages are being listed.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "RejectReason": "reasons",
    "Stage": "reasons",
    "ERRORS_SCHEMA": "records",
    "REFINED_SCHEMA": "records",
    "REJECTED_SCHEMA": "records",
    "RECORD_KEYS": "records",
    "Record": "records",
    "SIDE_CHANNEL": "records",
    "SCHEMA_VERSION": "records",
    "column_docs": "records",
    "with_run_metadata": "records",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
