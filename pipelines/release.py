"""Reading a finished output folder (a *release*) file by file, for the labelling commands.

``refinery sample``, ``refinery diff`` and ``refinery labels attach`` never load a release into one
table: they list its Parquet files (:func:`release_files`), read only the columns they need, one record
batch at a time (:func:`iter_batches`), and keep per-file state small. Local paths and anything Beam's
FileSystems reads (``gs://``) both work.

Derived values that the labelling commands stratify or report by, defined once here:

- :func:`source_name` — the ``source`` of a record: the input *dataset* it came from, i.e. the base name
  of ``source_uri`` without directories, compression and format extensions, and without a trailing
  shard number (``crude/web-00017-of-00100.jsonl.gz`` → ``web``, ``udhr.jsonl`` → ``udhr``); when
  nothing is left (``00017.jsonl``, ``shard-003.jsonl``, ``part-00001.parquet``), the name of the
  folder holding the file. Shards of one dataset are one source; two datasets in one folder are two.
- :func:`quality_bands` — ``quality_band``: ``high`` / ``medium`` / ``low`` from the stored ``quality``
  signals (``none`` when the quality stage did not run); see :data:`QUALITY_BAND_SIGNALS`.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

KINDS = ("refined", "rejected", "errors")
NULL_VALUE = "none"  # how a null stratum value (a disabled stage's column) is named


class ReleaseError(ValueError):
    """A folder that is not a readable release, or a file in it that breaks the output contract; the
    message names the folder or file."""


@dataclass(frozen=True)
class ReleaseFile:
    """One Parquet file of a release: which output it belongs to and its Hive partition (refined/)."""

    kind: str
    path: str
    lang: str | None


def _is_local(path: str) -> bool:
    return "://" not in path


def _filesystems():
    """Beam's FileSystems, for a remote (``gs://``) release only: importing Beam is not free (docs/PERFORMANCE.md)."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def read_manifest(out_dir: str) -> dict:
    """The release's ``reports/manifest.json``; a clear error when the folder is not a run's output."""
    local = _is_local(out_dir)
    path = os.path.join(out_dir, "reports", "manifest.json") if local else \
        _filesystems().join(out_dir, "reports", "manifest.json")
    try:
        with open(path, "rb") if local else _filesystems().open(path) as f:
            return orjson.loads(f.read())
    except Exception as exc:  # noqa: BLE001 - any failure here means "not a release": say which file
        raise ReleaseError(f"{path}: cannot read the manifest ({type(exc).__name__}: {exc}); "
                           f"is {out_dir} a refinery output folder?") from None


def release_files(out_dir: str, kinds: tuple[str, ...] = KINDS) -> list[ReleaseFile]:
    """The Parquet files of the given outputs, sorted by path (so every pass sees the same order)."""
    out: list[ReleaseFile] = []
    for kind in kinds:
        if _is_local(out_dir):
            root = os.path.join(out_dir, kind)
            paths = [os.path.join(d, f) for d, _s, fs in os.walk(root) for f in fs if f.endswith(".parquet")]
        else:
            fs = _filesystems()
            match = fs.match([fs.join(out_dir, kind, "**")])[0].metadata_list
            paths = [m.path for m in match if m.path.endswith(".parquet")]
        for p in sorted(paths):
            m = re.search(r"[/\\]lang=([^/\\]+)[/\\]", p)
            out.append(ReleaseFile(kind, p, m.group(1) if m else None))
    return out


# Column chunks are read through a buffer of this size instead of whole (a 50,000-row row group of text
# is tens of MB). Each column being read has its own buffer: reading whole rows (60 leaf columns)
# uses the smaller one.
READ_BUFFER_BYTES = 1 << 20
ROW_READ_BUFFER_BYTES = 1 << 16


def check_folder(path: str, overwrite: bool, releases: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an ``--output`` that :func:`prepare_folder` would refuse, and one that is,
    holds or lies inside one of the ``releases`` read (replacing it would delete the release)."""
    if "://" in path:
        raise ReleaseError(f"--output {path}: write the files to a local folder (and copy them afterwards)")
    out = os.path.realpath(path)
    for rel in releases:
        if "://" in rel:
            continue
        r = os.path.realpath(rel)
        if out == r or out.startswith(r + os.sep) or r.startswith(out + os.sep):
            raise ReleaseError(f"--output {path}: overlaps the release {rel}; choose a folder outside it")
    if os.path.isfile(path):
        raise ReleaseError(f"--output {path}: is a file, not a folder")
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise ReleaseError(f"--output {path}: folder is not empty. Choose a new folder or pass --overwrite "
                           "to replace its contents.")


def prepare_folder(path: str, overwrite: bool, releases: tuple[str, ...] = ()) -> None:
    """A new or empty local folder for a command's files; a non-empty one only with ``overwrite`` (then
    its contents are replaced). Output goes to local disk: copy it elsewhere afterwards."""
    check_folder(path, overwrite, releases)
    if os.path.isdir(path) and os.listdir(path):
        import shutil

        for name in os.listdir(path):
            target = os.path.join(path, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.remove(target)
    os.makedirs(path, exist_ok=True)


def open_parquet(path: str, buffer_size: int = READ_BUFFER_BYTES) -> pq.ParquetFile:
    try:
        if _is_local(path):
            return pq.ParquetFile(path, buffer_size=buffer_size)
        return pq.ParquetFile(_filesystems().open(path), buffer_size=buffer_size)
    except Exception as exc:  # noqa: BLE001
        raise ReleaseError(f"{path}: not readable as Parquet ({type(exc).__name__}: {exc})") from None


def available(pf: pq.ParquetFile, columns: list[str]) -> list[str]:
    """The requested columns (``quality.x`` for a struct field) that this file has."""
    names = set(pf.schema_arrow.names)
    return [c for c in columns if c.split(".", 1)[0] in names]


def iter_batches(pf: pq.ParquetFile, columns: list[str] | None, batch_size: int = 8192,
                 row_groups: list[int] | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of only ``columns`` (``None``: all), never the whole file at once."""
    kwargs = {"batch_size": batch_size, "use_threads": False}
    if columns is not None:
        kwargs["columns"] = columns
    if row_groups is not None:
        kwargs["row_groups"] = row_groups
    return pf.iter_batches(**kwargs)


_EXTENSIONS = (".gz", ".zst", ".zstd", ".bz2", ".xz", ".jsonl", ".json", ".ndjson", ".parquet", ".txt",
               ".warc", ".wet", ".arc", ".paths", ".csv", ".tsv")
_SHARD_SUFFIX = re.compile(r"([-_.]?(part|shard)?[-_.]?\d+([-_.]?of[-_.]?\d+)?)$", re.IGNORECASE)


def source_name(source_uri: str) -> str:
    """The input dataset a record came from (see the module docstring)."""
    path = source_uri.split("://", 1)[-1].rstrip("/")
    parent, base = posixpath.split(path.replace("\\", "/"))
    stem = base
    changed = True
    while changed:
        changed = False
        for ext in _EXTENSIONS:
            if stem.lower().endswith(ext) and len(stem) > len(ext):
                stem = stem[: -len(ext)]
                changed = True
    stem = _SHARD_SUFFIX.sub("", stem).rstrip("-_. ")
    if stem:
        return stem
    return posixpath.basename(parent) or base


def sources_of(uris: pa.Array, cache: dict[str, str]) -> list[str]:
    """:func:`source_name` of every value of a ``source_uri`` column (computed once per distinct file)."""
    encoded = pc.dictionary_encode(uris)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    names = []
    for u in encoded.dictionary.to_pylist():
        name = cache.get(u)
        if name is None:
            name = cache[u] = source_name(u)
        names.append(name)
    return [names[i] for i in encoded.indices.to_pylist()]


# quality_band: the mean of these per-record scores, each 0 (bad) .. 1 (good), taken from the signals
# the quality stage stored (Gopher's alphabetic words, C4's terminal punctuation, Gopher/FineWeb
# repetition and FineWeb's short lines); then fixed cut points. A record the rules kept can still be
# a borderline one: the band lets a sample cover those as well as the clean majority.
QUALITY_BAND_SIGNALS: tuple[tuple[str, bool], ...] = (
    ("alpha_words_frac", True),            # higher is better
    ("terminal_punct_lines_frac", True),
    ("dup_line_char_frac", False),         # lower is better: score 1 - value
    ("dup_5gram_char_frac", False),
    ("short_line_ratio", False),
)
# Refined records passed the quality rules already, so their scores crowd the top; the cuts sit there.
QUALITY_BAND_CUTS: tuple[tuple[str, float], ...] = (("high", 0.97), ("medium", 0.9), ("low", float("-inf")))
QUALITY_BAND_COLUMNS = [f"quality.{name}" for name, _ in QUALITY_BAND_SIGNALS]


def quality_score(quality: pa.Array) -> pa.Array:
    """Per record, the mean of the band signals' scores (null where the record has no signals)."""
    if isinstance(quality, pa.ChunkedArray):
        quality = quality.combine_chunks()
    total = None
    for name, higher_better in QUALITY_BAND_SIGNALS:
        v = pc.struct_field(quality, name).cast(pa.float64())
        s = v if higher_better else pc.subtract(1.0, v)
        s = pc.max_element_wise(pc.min_element_wise(s, 1.0), 0.0)
        total = s if total is None else pc.add(total, s)
    score = pc.divide(total, float(len(QUALITY_BAND_SIGNALS)))
    return pc.if_else(pc.is_null(quality), pa.scalar(None, pa.float64()), score)


def quality_bands(quality: pa.Array | None, n: int) -> list[str]:
    """``high`` / ``medium`` / ``low`` per record, ``none`` without signals."""
    if quality is None:
        return [NULL_VALUE] * n
    out = []
    for s in quality_score(quality).to_pylist():
        if s is None:
            out.append(NULL_VALUE)
            continue
        out.append(next(band for band, cut in QUALITY_BAND_CUTS if s >= cut))
    return out


def text_digest(text: str | None) -> str | None:
    """sha256 (hex, first 32) of the record's exact text: what "text changed" compares."""
    if text is None:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def iter_rows_at(pf: pq.ParquetFile, positions: list[int], columns: list[str] | None = None,
                 batch_size: int = 2048) -> Iterator[tuple[pa.RecordBatch, list[int]]]:
    """The rows at ``positions`` (0-based, sorted) of one file, as (batch of those rows, their positions);
    row groups holding none of them are not read."""
    start = 0
    i = 0
    for g in range(pf.metadata.num_row_groups):
        nrows = pf.metadata.row_group(g).num_rows
        end = start + nrows
        j = i
        while j < len(positions) and positions[j] < end:
            j += 1
        if j > i:
            wanted = positions[i:j]
            offset = start
            k = 0
            for batch in iter_batches(pf, columns, batch_size, row_groups=[g]):
                stop = offset + batch.num_rows
                local = []
                while k < len(wanted) and wanted[k] < stop:
                    local.append(wanted[k] - offset)
                    k += 1
                if local:
                    yield batch.take(pa.array(local, pa.int64())), [offset + p for p in local]
                offset = stop
            i = j
        start = end


SPILL_BATCH_ROWS = 256
_SPILL_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


def write_spill(path: str, schema: pa.Schema, tables: Iterator[pa.Table], batch_rows: int = SPILL_BATCH_ROWS) -> None:
    """A temporary file of ``tables`` (an Arrow IPC file, lz4), written as they come in record batches of
    about ``batch_rows`` rows: small tables are gathered first (a batch of a few rows costs more in its
    per-column buffers and headers than in its data, on disk and when read back).

    Reading one back costs one batch and a file handle (:func:`read_spill`), where a Parquet reader holds
    page and decompression buffers per column; and rows staged here hold no memory between the reads of
    many release files (small tables kept from each file pin far more memory than they hold, amid the
    freed buffers of those reads)."""
    with pa.OSFile(path, "wb") as sink, ipc.new_file(sink, schema, options=_SPILL_OPTIONS) as w:
        parts: list[pa.Table] = []
        held = 0

        def flush() -> None:
            for batch in pa.concat_tables(parts).combine_chunks().to_batches(max_chunksize=batch_rows):
                w.write_batch(batch)
            parts.clear()

        for table in tables:
            parts.append(table)
            held += table.num_rows
            if held >= batch_rows:
                flush()
                held = 0
        if held:
            flush()


def read_spill(path: str) -> Iterator[pa.RecordBatch]:
    """The record batches of a :func:`write_spill` file, one read at a time."""
    with pa.OSFile(path) as source:
        reader = ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


class BufferedWriter:
    """A Parquet file written in row groups of about ``rows`` rows from many small tables (one row group
    per tiny table would multiply the file's size and its footer)."""

    def __init__(self, path: str, schema: pa.Schema, rows: int = 8192):
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._parts: list[pa.Table] = []
        self._n = 0
        self._rows = rows
        self.written = 0

    def write(self, table: pa.Table) -> None:
        self._parts.append(table)
        self._n += table.num_rows
        if self._n >= self._rows:
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            self._writer.write_table(pa.concat_tables(self._parts))
            self.written += self._n
        self._parts, self._n = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
