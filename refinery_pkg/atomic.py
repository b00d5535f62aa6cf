"""Atomic output: every file Refinery writes appears under its final name only once it is complete.

A file is written to a temporary name in the same folder (so the rename stays on one filesystem)
and renamed when it is whole; a killed or failing write leaves at most a temporary file, never a
truncated file under a final name. Temporary names start with :data:`TEMP_PREFIX` (a leading dot:
pyarrow datasets, Spark and Hive skip them) and end with a random token, not with ``.parquet``, so
no ``*.parquet`` glob matches one either.

The run writes its manifest last and then an empty :data:`SUCCESS_NAME` marker at the output root,
only when the run succeeded: readers wait for ``OUT/_SUCCESS``.

Local files are flushed to disk (fsync) before the rename, so a power cut cannot leave a complete
name pointing at missing data. On object stores (``gs://``) an object is visible only once its upload
is complete; the rename (Beam's copy + delete) then moves it to its final name.
"""

from __future__ import annotations

import os
import posixpath
import secrets

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

TEMP_PREFIX = ".refinery-tmp-"
SUCCESS_NAME = "_SUCCESS"


def is_refinery_temp(name: str) -> bool:
    """True for a temporary file of an unfinished Refinery write (``name``: a path or a bare file name)."""
    return posixpath.basename(name.rstrip("/")).startswith(TEMP_PREFIX)


def temp_path(final_path: str) -> str:
    """A fresh temporary name next to ``final_path`` (unique per call: a retried write never collides)."""
    head, tail = (final_path.rsplit("/", 1) if "/" in final_path else ("", final_path))
    name = f"{TEMP_PREFIX}{tail}.{secrets.token_hex(6)}"
    return f"{head}/{name}" if head else name


def _is_local(path: str) -> bool:
    return "://" not in path


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (local or any Beam filesystem) via a temporary name and a rename.
    On failure the temporary file is removed (best effort) and the error raised; ``path`` is untouched."""
    tmp = temp_path(path)
    try:
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(data)
            if _is_local(tmp):
                f.flush()
                os.fsync(f.fileno())
        FileSystems.rename([tmp], [path])
    except BaseException:
        try:
            if FileSystems.exists(tmp):
                FileSystems.delete([tmp])
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise


def success_path(out_dir: str) -> str:
    return FileSystems.join(out_dir, SUCCESS_NAME)


def write_success(out_dir: str) -> None:
    """The empty ``_SUCCESS`` marker: written after the manifest, only for a run that succeeded."""
    write_atomic(success_path(out_dir), b"")


def remove_success(out_dir: str) -> None:
    """Remove a ``_SUCCESS`` left by an earlier run (first thing a new run into the folder does)."""
    path = success_path(out_dir)
    if FileSystems.exists(path):
        FileSystems.delete([path])
