"""Runs that are wrong as a whole fail, loudly: before the pipeline (a pre-check of each input's first
records) and after it (the share of error rows), naming the file and the most common error.

Both read little: the pre-check the first ``run.preflight_records`` records of at most
:data:`PREFLIGHT_FILES` local files, the post-run check the reconciliation and, for the file it
names, the ``source_uri`` and ``error`` columns of the error files.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import orjson

from refinery.transforms.ingest import detect_format, local_opener, read_crude
from refinery.transforms.inputs import InputError, InputSet

PREFLIGHT_FILES = 64
_PREFLIGHT_PARQUET_BYTES = 64 << 20  # a Parquet file is read whole before its first row: skip larger ones


def _hint(path: str, error: dict, text_field: str) -> str:
    """What probably went wrong, from the first error of a file."""
    msg, raw = error.get("error") or "", error.get("raw") or b""
    if msg.startswith("KeyError") and raw:
        try:
            fields = sorted(orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError):
            fields = []
        if fields:
            return (f"; its records have the fields {', '.join(fields[:12])} — set ingest.text_field "
                    f"(now {text_field!r})")
    if raw.lstrip()[:1] == b"[":
        return "; it looks like a JSON array: Refinery reads JSON Lines (one object per line, .jsonl/.json/.ndjson)"
    if "JSONDecodeError" in msg and detect_format(path) == "jsonl" and not path.lower().split("/")[-1].count(".json"):
        return "; its extension is not a known format, so it was read as JSON Lines: set ingest.format"
    return ""


def preflight(inputs: InputSet, cfg) -> None:
    """Read the first records of each local input; raise InputError for a file whose first records are all
    errors, or for a Common Crawl path list Beam could not follow."""
    n = cfg.run.preflight_records
    if n <= 0:
        return
    for path, size in inputs.local_files[:PREFLIGHT_FILES]:
        low = path.lower()
        if low.endswith((".paths.gz", ".paths")):
            prefix = cfg.ingest.commoncrawl_prefix
            if prefix.startswith(("http://", "https://")):
                raise InputError(f"--input {path}: a Common Crawl path list, but ingest.commoncrawl_prefix is "
                                 f"{prefix!r} and Beam reads no http(s) URLs: point it at a gs:// or local mirror")
            continue
        if detect_format(path, cfg.ingest.format) == "parquet" and (size or 0) > _PREFLIGHT_PARQUET_BYTES:
            continue
        items = read_crude(path, cfg.ingest, local_opener, size_hint=size)
        try:
            head = list(itertools.islice(((k, i) for k, i in items if k != "file"), n))
        finally:
            items.close()
        # Record-level errors only: a file that cannot be read at all (corrupt, cut short) is left to the
        # pipeline, which writes its error row (and then fails the run, every record of it being an error).
        if head and all(k == "error" and i.get("source_line") is not None for k, i in head):
            first = head[0][1]
            raise InputError(f"--input {path}: its first {len(head)} records are all errors, e.g. line "
                             f"{first.get('source_line')}: {first.get('error')}"
                             f"{_hint(path, first, cfg.ingest.text_field)}")


def _kind(error: str) -> str:
    """An error message with its positions and numbers blanked, so that errors of one kind count together."""
    return re.sub(r"\d+", "N", error.split("\n", 1)[0])[:160]


def most_common_error(outputs: list[dict], uri: str | None = None) -> tuple[str, int] | None:
    """(an error of the most frequent kind, rows of that kind) in errors/ — of one input file when ``uri`` is
    given. Errors of one kind differ only in their numbers (line, byte, size)."""
    import pyarrow.parquet as pq

    from refinery.validators.integrity import _open

    counts: Counter = Counter()
    example: dict[str, str] = {}
    for o in outputs:
        if o["kind"] != "errors" or not o["rows"]:
            continue
        with _open(o["path"]) as f:
            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(columns=["source_uri", "error"], batch_size=8192):
                for src, err in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                    if uri is None or src == uri:
                        kind = _kind(err or "")
                        counts[kind] += 1
                        example.setdefault(kind, (err or "").split("\n", 1)[0][:300])
    if not counts:
        return None
    kind, n = counts.most_common(1)[0]
    return example[kind], n


def error_share_failure(reconciliation: dict, outputs: list[dict], max_share: float) -> str | None:
    """Why a finished run fails as a whole (too many error rows, or a file of nothing but errors), else None."""
    files = reconciliation["files"]
    records = sum(f["records"] for f in files)
    errors = sum(f["errors"] for f in files)
    all_bad = [f for f in files if f["records"] and f["errors"] == f["records"]]
    if all_bad:
        f = max(all_bad, key=lambda d: d["records"])
        common = most_common_error(outputs, f["uri"])
        what = f": {common[0]}" if common else ""
        more = f" (and {len(all_bad) - 1} more such files)" if len(all_bad) > 1 else ""
        return f"every one of the {f['records']:,} records of {f['uri']} is an error{more}{what}"
    if records and errors / records > max_share:
        worst = max(files, key=lambda d: d["errors"])
        common = most_common_error(outputs, worst["uri"])
        what = f"; most common there: {common[0]} ({common[1]:,} rows)" if common else ""
        return (f"{errors:,} of {records:,} records ({errors / records:.0%}) are errors, more than "
                f"run.max_error_share={max_share:g}; most in {worst['uri']} ({worst['errors']:,}){what}")
    return None
