"""Lookup tables built once per machine instead of once per process: :func:`refinery.runtime.cached_table`.

Kept under this name for the modules that import it from here; the implementation (and the rest of
the run's tuning) lives in :mod:`refinery.runtime`.
"""

from refinery.runtime import cache_dir, cached_table

__all__ = ["cache_dir", "cached_table"]
