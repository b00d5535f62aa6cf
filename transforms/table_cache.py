"""Lookup tables built once per machine instead of once per process.

Two per-code-point tables cost every worker process ~0.6 s to build (OpenCC's conversions for the
Chinese variant marks, ~0.35 s; the quality kernel's character classes from their regexes, ~0.25 s).
They depend only on library versions and on the code that builds them, so they are kept as ``.npy``
files under ``$REFINERY_CACHE_DIR`` (default ``$XDG_CACHE_HOME/refinery`` or ``~/.cache/refinery``),
named by a digest of everything they depend on. A missing, unreadable or stale file is rebuilt; where
nothing can be written the table is built in each process, as before.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    if os.environ.get("REFINERY_CACHE_DIR"):
        return Path(os.environ["REFINERY_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "refinery"


def cached_table(name: str, depends_on: str, build: Callable[[], np.ndarray]) -> np.ndarray:
    """``build()``'s array, read from the cache when one was stored for the same ``depends_on``."""
    digest = hashlib.sha256(f"{name}\n{depends_on}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}-{digest}.npy"
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        table = None
    if table is None:
        table = build()
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
                tmp = f.name
                np.save(f, table, allow_pickle=False)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
        except OSError:
            if tmp is not None:  # a partial file (disk full): not left behind
                Path(tmp).unlink(missing_ok=True)
    table.setflags(write=False)
    return table
