"""``refinery diff OUT_OLD OUT_NEW``: what changed between two releases, record by record.

Every doc_id of either release falls in one class:

- ``added``     refined in the new release, not in the old one; ``detail`` says where it was before:
                ``new`` (not in the old release at all), ``was_rejected:<stage>/<reason>`` or ``was_error``;
- ``removed``   refined in the old release, not in the new one; ``detail`` says why:
                ``rejected:<stage>/<reason>`` (``dup_of`` names the record it duplicates when dedup
                removed it), ``error`` (now in errors/) or ``gone`` (no longer in the input);
- ``changed``   refined in both, with a different text (``lang`` may differ too);
- ``unchanged`` refined in both, same text;
- ``not_refined`` in neither release's refined/ (rejected or an error in both): counted only.

doc_ids come from the input file's path and the record's line, so a record whose file moved (a new
folder, a renamed file) or whose line shifted comes out as one removed and one added doc_id. An added
record with exactly the text of a removed one is listed as *moved* (``moved.parquet``: old and new
doc_id): it needs no new label, and ``refinery labels attach --moves DIFF`` follows it. The text
hashes of the added and removed records are sorted on disk like the releases (:class:`_MoveCandidates`),
so moves are found however much changed.

It works from the two folders alone (manifests and Parquet files) and never loads a release: each
file is read alone, one small batch at a time, its rows narrowed to doc_id, position, lang, reasons and
the text's hash and sorted in bounded runs on disk (:func:`release_stream`); the merged runs are one
stream sorted by doc_id per release, and the two streams are joined in a single pass (refined/ and
rejected/ files must be sorted by doc_id, the output contract, and are checked). What it keeps in
memory: counters, one run being sorted, one batch per run being merged (at most :data:`MERGE_FAN_IN`),
and up to a million positions of added, changed or moved records (spilled to disk beyond).

Outputs with ``--output DIR``: ``changes.parquet`` (one row per added, removed or changed doc_id, with
both sides' output, language, reason and text hash), ``to_label.parquet`` (the new release's full rows
of the added and changed records: what needs labels; ``refinery export`` reads it) and ``summary.json``
(the counts per class, per language and per reason, both releases' identity and the config keys that
differ).
"""

from __future__ import annotations

import datetime as _dt
import heapq
import json
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import refinery
from refinery.pipelines.release import (
    ROW_READ_BUFFER_BYTES,
    BufferedWriter,
    ReleaseError,
    ReleaseFile,
    available,
    check_folder,
    iter_batches,
    iter_rows_at,
    open_parquet,
    prepare_folder,
    quality_bands,
    read_manifest,
    read_spill,
    release_files,
    sources_of,
    text_digest,
    write_spill,
)
from refinery.schemas import REFINED_SCHEMA

CLASSES = ("added", "removed", "changed", "unchanged", "not_refined")
MOVED_SCHEMA = pa.schema([
    pa.field("old_doc_id", pa.string(), nullable=False, metadata={"description": "doc_id in the old release"}),
    pa.field("new_doc_id", pa.string(), nullable=False, metadata={"description": "doc_id in the new release"}),
    pa.field("text_sha256", pa.string(), metadata={"description": "the text both have"}),
    pa.field("old_lang", pa.string()),
    pa.field("new_lang", pa.string()),
])


@dataclass(frozen=True)
class Side:
    """One release's view of a doc_id."""

    output: str               # refined | rejected | errors
    file: int                 # index into the release's file list (-1 for errors)
    row: int
    lang: str | None
    text_sha256: str | None
    reject_stage: str | None = None
    reject_reason: str | None = None
    reject_detail: str | None = None
    dup_of: str | None = None
    error: str | None = None

    @property
    def why(self) -> str:
        if self.output == "rejected":
            return f"{self.reject_stage}/{self.reject_reason}"
        return self.output


CHANGES_SCHEMA = pa.schema([
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("change", pa.string(), nullable=False, metadata={"description": "added | removed | changed"}),
    pa.field("detail", pa.string(), metadata={"description": "added: where it was; removed: why; changed: "
                                                             "text, or text+lang"}),
    pa.field("old_output", pa.string(), metadata={"description": "refined | rejected | errors | absent"}),
    pa.field("new_output", pa.string(), metadata={"description": "refined | rejected | errors | absent"}),
    pa.field("old_lang", pa.string()),
    pa.field("new_lang", pa.string()),
    pa.field("old_reject_reason", pa.string()),
    pa.field("new_reject_stage", pa.string()),
    pa.field("new_reject_reason", pa.string()),
    pa.field("new_reject_detail", pa.string()),
    pa.field("dup_of", pa.string(), metadata={"description": "removed as a duplicate: doc_id of the kept record"}),
    pa.field("error", pa.string(), metadata={"description": "removed as an error: the error"}),
    pa.field("old_text_sha256", pa.string()),
    pa.field("new_text_sha256", pa.string()),
])
TO_LABEL_EXTRA = [
    pa.field("source", pa.string(), metadata={"description": "the input dataset (see refinery sample)"}),
    pa.field("quality_band", pa.string(), metadata={"description": "high / medium / low from the quality signals"}),
    pa.field("change", pa.string(), metadata={"description": "added | changed"}),
    pa.field("change_detail", pa.string()),
]
TO_LABEL_SCHEMA = pa.schema(list(REFINED_SCHEMA) + TO_LABEL_EXTRA)


# A release's rows are sorted in runs of at most this many narrow rows (doc_id, where it is, lang, text
# hash, reasons: ~150 bytes each), written to a temporary folder as spill files (release.write_spill);
# the runs are then merged. Reading goes one file and one small batch at a time, so memory holds one run
# being sorted plus one batch per run being merged, whatever the release's size or number of files.
RUN_ROWS = 16384
# At most this many runs are merged at once; more are merged in rounds, into longer runs.
MERGE_FAN_IN = 32
_TEXT_BATCH = 256  # rows read at once from a release file (their text is hashed, then dropped)

_RUN_SCHEMA = pa.schema([
    pa.field("doc_id", pa.string()), pa.field("output", pa.string()), pa.field("file", pa.int64()),
    pa.field("row", pa.int64()), pa.field("lang", pa.string()), pa.field("text_sha256", pa.string()),
    pa.field("reject_stage", pa.string()), pa.field("reject_reason", pa.string()),
    pa.field("reject_detail", pa.string()), pa.field("dup_of", pa.string()), pa.field("error", pa.string()),
])
_SIDE_FIELDS = _RUN_SCHEMA.names[1:]


def _check_order(rf: ReleaseFile, ids: pa.Array, prev: str | None, row: int) -> None:
    """refined/ and rejected/ files are sorted by unique doc_id (the output contract): say where not."""
    n = len(ids)
    bad = None
    if prev is not None and n and ids[0].as_py() <= prev:
        bad = 0
    elif n > 1:
        le = pc.less_equal(ids.slice(1), ids.slice(0, n - 1))
        if pc.any(le).as_py():
            bad = pc.index(le, True).as_py() + 1
    if bad is not None:
        doc_id = ids[bad].as_py()
        before = prev if bad == 0 else ids[bad - 1].as_py()
        what = "repeats" if doc_id == before else "is out of order"
        raise ReleaseError(f"{rf.path}: row {row + bad}: doc_id {doc_id} {what} (files of a release are "
                           "sorted by unique doc_id; was this file written by refinery?)")


def _narrow_batches(rf: ReleaseFile, fi: int) -> Iterator[pa.Table]:
    """One file's rows as narrow tables of :data:`_RUN_SCHEMA` (text replaced by its hash), in file order;
    errors/ rows only when they carry a doc_id."""
    pf = open_parquet(rf.path)
    if rf.kind == "errors":
        cols = available(pf, ["doc_id", "error"])
        if "doc_id" not in cols:
            return
    else:
        cols = available(pf, ["doc_id", "text", "lang", "reject_stage", "reject_reason", "reject_detail",
                              "dup_of"])
        if "doc_id" not in cols:
            raise ReleaseError(f"{rf.path}: no doc_id column (not a refinery output file?)")
    prev = None
    row = 0
    for batch in iter_batches(pf, cols, _TEXT_BATCH):
        n = batch.num_rows
        ids = batch.column("doc_id")
        if rf.kind == "errors":
            keep = pc.is_valid(ids)
            batch = batch.filter(keep)
            n = batch.num_rows
            out = {"doc_id": batch.column("doc_id"), "output": pa.array(["errors"] * n, pa.string()),
                   "file": pa.array([-1] * n, pa.int64()), "row": pa.array([-1] * n, pa.int64())}
            if "error" in cols:
                out["error"] = batch.column("error")
        else:
            _check_order(rf, ids, prev, row)
            if n:
                prev = ids[n - 1].as_py()
            texts = batch.column("text").to_pylist() if "text" in cols else [None] * n
            out = {"doc_id": ids, "output": pa.array([rf.kind] * n, pa.string()),
                   "file": pa.array([fi] * n, pa.int64()), "row": pa.array(range(row, row + n), pa.int64()),
                   "lang": batch.column("lang") if "lang" in cols else pa.array([rf.lang] * n, pa.string()),
                   "text_sha256": pa.array([text_digest(t) for t in texts], pa.string())}
            del texts
            if rf.kind == "rejected":
                for c in ("reject_stage", "reject_reason", "reject_detail", "dup_of"):
                    if c in cols:
                        out[c] = batch.column(c)
            row += n
        del batch
        yield pa.Table.from_arrays([out[f.name].cast(f.type) if f.name in out else pa.nulls(n, f.type)
                                    for f in _RUN_SCHEMA], schema=_RUN_SCHEMA)


def _write_table_run(parts: list[pa.Table], path: str) -> None:
    table = pa.concat_tables(parts)
    table = table.take(pc.sort_indices(table, sort_keys=[("doc_id", "ascending")]))
    write_spill(path, _RUN_SCHEMA, iter([table]))


def _write_run(stream: Iterator[tuple[str, Side]], path: str) -> None:
    def tables():
        while chunk := list(islice(stream, 8192)):
            yield pa.Table.from_pylist([{"doc_id": doc_id, **{f: getattr(side, f) for f in _SIDE_FIELDS}}
                                        for doc_id, side in chunk], schema=_RUN_SCHEMA)
    write_spill(path, _RUN_SCHEMA, tables())


def _read_run(path: str) -> Iterator[tuple[str, Side]]:
    for batch in read_spill(path):
        for r in batch.to_pylist():
            yield r.pop("doc_id"), Side(**r)


def _merged(paths: list[str], read, write, prefix: str, key) -> Iterator:
    """The sorted runs at ``paths`` as one sorted stream (``read(path)`` yields a run's items, ``write(items,
    path)`` writes one); more than :data:`MERGE_FAN_IN` runs are first merged in rounds into longer runs
    named ``prefix-<round>-<i>.arrow``, so no more than that many are ever read at once."""
    level = 0
    while len(paths) > MERGE_FAN_IN:
        level += 1
        merged = []
        for g in range(0, len(paths), MERGE_FAN_IN):
            merged.append(f"{prefix}-{level}-{g // MERGE_FAN_IN}.arrow")
            write(heapq.merge(*[read(p) for p in paths[g:g + MERGE_FAN_IN]], key=key), merged[-1])
        for p in paths:
            os.remove(p)
        paths = merged
    yield from heapq.merge(*[read(p) for p in paths], key=key)


_MOVE_SCHEMA = pa.schema([
    pa.field("text_sha256", pa.string()), pa.field("added", pa.bool_()), pa.field("doc_id", pa.string()),
    pa.field("lang", pa.string()), pa.field("file", pa.int64()), pa.field("row", pa.int64()),
])
_Candidate = tuple[str, bool, str, str | None, int, int]  # (text hash, added?, doc_id, lang, file, row)


class _MoveCandidates:
    """The text hashes of the removed and added records, sorted by (hash, added, doc_id) in runs of
    :data:`RUN_ROWS` on disk under ``workdir``; :meth:`moves` merges them and pairs, per text, the first
    removed doc_id with the first added one: the same pairs as holding every hash in memory and letting
    each added record (in doc_id order) take the first removed record with its text."""

    def __init__(self, workdir: str):
        self._prefix = os.path.join(workdir, f"moves-{len(os.listdir(workdir))}")
        self._rows: list[_Candidate] = []
        self._paths: list[str] = []

    def add(self, text_sha256: str, added: bool, doc_id: str, lang: str | None, fi: int, row: int) -> None:
        self._rows.append((text_sha256, added, doc_id, lang, fi, row))
        if len(self._rows) >= RUN_ROWS:
            self._spill()

    def _spill(self) -> None:
        self._rows.sort()
        self._paths.append(f"{self._prefix}-0-{len(self._paths)}.arrow")
        self._write(iter(self._rows), self._paths[-1])
        self._rows = []

    @staticmethod
    def _write(rows: Iterator[_Candidate], path: str) -> None:
        def tables():
            while chunk := list(islice(rows, 8192)):
                columns = zip(*chunk, strict=True)
                yield pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, _MOVE_SCHEMA, strict=True)],
                                           schema=_MOVE_SCHEMA)
        write_spill(path, _MOVE_SCHEMA, tables())

    @staticmethod
    def _read(path: str) -> Iterator[_Candidate]:
        for batch in read_spill(path):
            yield from zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True)

    def moves(self) -> Iterator[tuple[_Candidate, _Candidate]]:
        """(removed, added) per text that both have, in text-hash order."""
        if self._paths and self._rows:
            self._spill()
        stream = (_merged(self._paths, self._read, self._write, self._prefix, key=None) if self._paths
                  else iter(sorted(self._rows)))
        text, removed, taken = None, None, False
        for cand in stream:
            if cand[0] != text:
                text, removed, taken = cand[0], None, False
            if not cand[1]:  # a text's removed records come before its added ones, each in doc_id order
                removed = removed or cand
            elif removed is not None and not taken:
                yield removed, cand
                taken = True  # one removed record moves to at most one added record


def release_stream(files: list[ReleaseFile], workdir: str) -> Iterator[tuple[str, Side]]:
    """Every doc_id of a release once, in doc_id order (a doc_id in two outputs is an error): the files'
    narrow rows sorted in runs of :data:`RUN_ROWS` under ``workdir``, merged :data:`MERGE_FAN_IN` at a
    time."""
    tag = f"{id(files)}-{len(os.listdir(workdir))}"
    paths: list[str] = []
    parts: list[pa.Table] = []
    held = 0
    for fi, rf in enumerate(files):
        for t in _narrow_batches(rf, fi):
            parts.append(t)
            held += t.num_rows
            if held >= RUN_ROWS:
                paths.append(os.path.join(workdir, f"run-{tag}-0-{len(paths)}.arrow"))
                _write_table_run(parts, paths[-1])
                parts, held = [], 0
    if held:
        paths.append(os.path.join(workdir, f"run-{tag}-0-{len(paths)}.arrow"))
        _write_table_run(parts, paths[-1])
    del parts
    prev = None
    for doc_id, side in _merged(paths, _read_run, _write_run, os.path.join(workdir, f"run-{tag}"),
                                key=lambda t: t[0]):
        if doc_id == prev:
            raise ReleaseError(f"doc_id {doc_id} appears in two files of the release (the second in "
                               f"{side.output}/): doc_ids must be unique across refined, rejected and errors")
        prev = doc_id
        yield doc_id, side


def classify(old: Side | None, new: Side | None) -> tuple[str, str]:
    """(class, detail) of a doc_id from its two sides (see the module docstring)."""
    old_in = old is not None and old.output == "refined"
    new_in = new is not None and new.output == "refined"
    if old_in and new_in:
        if old.text_sha256 == new.text_sha256:
            return "unchanged", "lang" if old.lang != new.lang else ""
        return "changed", "text+lang" if old.lang != new.lang else "text"
    if old_in:
        if new is None:
            return "removed", "gone"
        if new.output == "errors":
            return "removed", "error"
        return "removed", f"rejected:{new.why}"
    if new_in:
        if old is None:
            return "added", "new"
        if old.output == "errors":
            return "added", "was_error"
        return "added", f"was_rejected:{old.why}"
    return "not_refined", ""


def _joined(a: Iterator, b: Iterator) -> Iterator[tuple[str, Side | None, Side | None]]:
    """Full outer merge join of two doc_id-sorted streams."""
    end = object()
    x, y = next(a, end), next(b, end)
    while x is not end or y is not end:
        if y is end or (x is not end and x[0] < y[0]):
            yield x[0], x[1], None
            x = next(a, end)
        elif x is end or y[0] < x[0]:
            yield y[0], None, y[1]
            y = next(b, end)
        else:
            yield x[0], x[1], y[1]
            x, y = next(a, end), next(b, end)


def _flat(d, prefix="") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict, new: dict) -> dict:
    """Config keys whose value differs between the two runs: {key: [old, new]}."""
    a, b = _flat(old.get("config")), _flat(new.get("config"))
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _identity(path: str, m: dict) -> dict:
    return {"path": path, "run_id": m.get("run_id"), "status": m.get("status"),
            "config_sha256": m.get("config_sha256"), "refinery_version": m.get("refinery_version"),
            "finished_at": m.get("finished_at"), "totals": m.get("totals")}


# Positions of the records to label held in memory before they are sorted and spilled to disk.
POSITIONS_IN_MEMORY = 1 << 20
_ROW_BITS = 40


class _Positions:
    """(file, row, detail) of every added or changed record, in bounded memory: 12 bytes each up to
    :data:`POSITIONS_IN_MEMORY`, then sorted and written to ``workdir``; :meth:`by_file` merges them back
    in (file, row) order."""

    def __init__(self, workdir: str, name: str = "positions"):
        self._workdir, self._name = workdir, name
        self._keys = array("q")
        self._codes = array("i")
        self._details: dict[str, int] = {}
        self._spilled: list[str] = []

    def add(self, fi: int, row: int, detail: str) -> None:
        self._keys.append(fi << _ROW_BITS | row)
        self._codes.append(self._details.setdefault(detail, len(self._details)))
        if len(self._keys) >= POSITIONS_IN_MEMORY:
            self._spill()

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.frombuffer(self._keys, dtype=np.int64) if self._keys else np.empty(0, np.int64)
        codes = np.frombuffer(self._codes, dtype=np.int32) if self._codes else np.empty(0, np.int32)
        order = np.argsort(keys, kind="stable")
        return keys[order], codes[order]

    def _spill(self) -> None:
        path = os.path.join(self._workdir, f"{self._name}-{len(self._spilled)}.npz")
        keys, codes = self._sorted()
        np.savez(path, keys=keys, codes=codes)
        self._spilled.append(path)
        self._keys, self._codes = array("q"), array("i")

    def _chunks(self) -> list[Iterator[tuple[int, int]]]:
        def read(keys, codes, step=65536):
            for start in range(0, len(keys), step):
                yield from zip(keys[start:start + step].tolist(), codes[start:start + step].tolist(), strict=True)

        out = []
        for path in self._spilled:
            with np.load(path) as z:
                out.append(read(z["keys"], z["codes"]))
        out.append(read(*self._sorted()))
        return out

    def by_file(self) -> Iterator[tuple[int, list[tuple[int, str]]]]:
        """(file, [(row, detail), ...] in row order) for every file with records to label, in file order."""
        names = {code: d for d, code in self._details.items()}
        mask = (1 << _ROW_BITS) - 1
        current, rows = None, []
        for key, code in heapq.merge(*self._chunks()):
            fi = key >> _ROW_BITS
            if fi != current:
                if rows:
                    yield current, rows
                current, rows = fi, []
            rows.append((key & mask, names[code]))
        if rows:
            yield current, rows


def diff_releases(old_dir: str, new_dir: str, output: str | None = None, overwrite: bool = False) -> dict:
    """Compare two releases; write ``changes.parquet``, ``to_label.parquet`` and ``summary.json`` into
    ``output`` when given. Returns the summary."""
    if output is not None:
        check_folder(output, overwrite, (old_dir, new_dir))
    old_m, new_m = read_manifest(old_dir), read_manifest(new_dir)
    for d, m in ((old_dir, old_m), (new_dir, new_m)):
        if m.get("status") != "succeeded":
            raise ReleaseError(f"{d}: the run's status is {m.get('status')!r}, not 'succeeded'")
    old_files, new_files = release_files(old_dir), release_files(new_dir)
    workdir = tempfile.TemporaryDirectory(prefix="refinery-diff-")
    to_label = _Positions(workdir.name)
    writer = None
    if output is not None:
        prepare_folder(output, overwrite, (old_dir, new_dir))
        writer = BufferedWriter(os.path.join(output, "changes.parquet"), CHANGES_SCHEMA)
    try:
        return _diff(old_dir, new_dir, old_m, new_m, old_files, new_files, output, writer, workdir.name, to_label)
    finally:
        if writer is not None:
            writer.close()
        workdir.cleanup()


def _diff(old_dir: str, new_dir: str, old_m: dict, new_m: dict, old_files: list[ReleaseFile],
          new_files: list[ReleaseFile], output: str | None, writer: BufferedWriter | None, workdir: str,
          to_label: _Positions) -> dict:
    """The join of the two releases and what follows from it (see :func:`diff_releases`)."""
    counts: Counter = Counter()
    by_lang: dict[str, Counter] = {c: Counter() for c in CLASSES}
    by_detail: dict[str, Counter] = {c: Counter() for c in CLASSES}
    candidates = _MoveCandidates(workdir)
    buffer: list[dict] = []
    joined = _joined(release_stream(old_files, workdir), release_stream(new_files, workdir))
    for doc_id, old, new in joined:
        cls, detail = classify(old, new)
        counts[cls] += 1
        if cls == "removed":
            lang = old.lang
        elif cls != "not_refined":
            lang = new.lang
        else:
            lang = (old or new).lang
        by_lang[cls][str(lang)] += 1
        by_detail[cls][detail.split(":", 1)[0] if cls == "changed" else detail] += 1
        if writer is not None and cls in ("added", "changed"):
            to_label.add(new.file, new.row, f"{cls}:{detail}")
        if cls == "removed" and old.text_sha256:
            candidates.add(old.text_sha256, False, doc_id, old.lang, old.file, old.row)
        elif cls == "added" and new.text_sha256:
            candidates.add(new.text_sha256, True, doc_id, new.lang, new.file, new.row)
        if writer is not None and cls in ("added", "removed", "changed"):
            buffer.append(_change_row(doc_id, cls, detail, old, new))
            if len(buffer) >= 8192:
                writer.write(pa.Table.from_pylist(buffer, schema=CHANGES_SCHEMA))
                buffer = []
    if writer is not None and buffer:
        writer.write(pa.Table.from_pylist(buffer, schema=CHANGES_SCHEMA))
    moved, moved_at = _write_moves(candidates, output, workdir)
    summary = {
        "kind": "refinery-diff",
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(),
        "refinery_version": refinery.__version__,
        "old": _identity(old_dir, old_m),
        "new": _identity(new_dir, new_m),
        "config_changes": config_changes(old_m, new_m),
        "counts": {c: counts.get(c, 0) for c in CLASSES},
        "by_lang": {c: dict(sorted(v.items())) for c, v in by_lang.items() if v},
        "by_reason": {c: dict(v.most_common()) for c, v in by_detail.items() if v and c != "not_refined"},
        "moved": moved,
        "moves_found": "yes",
    }
    if output is not None:
        summary["to_label_rows"] = _write_to_label(new_files, to_label, os.path.join(output, "to_label.parquet"),
                                                   new_m, moved_at)
        summary["files"] = ["changes.parquet", "to_label.parquet", "moved.parquet", "summary.json"]
        with open(os.path.join(output, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
    return summary


def _write_moves(candidates: _MoveCandidates, output: str | None, workdir: str) -> tuple[int, _Positions]:
    """Write ``moved.parquet`` (when there is an ``output``); the number of moves and where the moved
    records are in the new release."""
    moved_at = _Positions(workdir, "moved")
    moved = 0
    writer = BufferedWriter(os.path.join(output, "moved.parquet"), MOVED_SCHEMA) if output else None
    try:
        rows: list[dict] = []
        for (sha, _, old_id, old_lang, _, _), (_, _, new_id, new_lang, fi, row) in candidates.moves():
            moved += 1
            moved_at.add(fi, row, "")
            if writer is not None:
                rows.append({"old_doc_id": old_id, "new_doc_id": new_id, "text_sha256": sha, "old_lang": old_lang,
                             "new_lang": new_lang})
                if len(rows) >= 8192:
                    writer.write(pa.Table.from_pylist(rows, schema=MOVED_SCHEMA))
                    rows = []
        if writer is not None and rows:
            writer.write(pa.Table.from_pylist(rows, schema=MOVED_SCHEMA))
    finally:
        if writer is not None:
            writer.close()
    return moved, moved_at


def _change_row(doc_id: str, cls: str, detail: str, old: Side | None, new: Side | None) -> dict:
    return {
        "doc_id": doc_id, "change": cls, "detail": detail,
        "old_output": old.output if old else "absent", "new_output": new.output if new else "absent",
        "old_lang": old.lang if old else None, "new_lang": new.lang if new else None,
        "old_reject_reason": old.reject_reason if old else None,
        "new_reject_stage": new.reject_stage if new else None,
        "new_reject_reason": new.reject_reason if new else None,
        "new_reject_detail": new.reject_detail if new else None,
        "dup_of": new.dup_of if new else None,
        "error": new.error if new else None,
        "old_text_sha256": old.text_sha256 if old else None,
        "new_text_sha256": new.text_sha256 if new else None,
    }


def _write_to_label(files: list[ReleaseFile], positions: _Positions, path: str, manifest: dict,
                    skip: _Positions) -> int:
    """The new release's full rows at the recorded positions (less the moved records at the positions in
    ``skip``: their text is labelled already), file by file, batch by batch."""
    schema = TO_LABEL_SCHEMA.with_metadata({"refinery.kind": "diff-to-label",
                                            "refinery.release_run_id": str(manifest.get("run_id"))})
    written = 0
    cache: dict[str, str] = {}
    skipped = skip.by_file()
    skip_fi, skip_rows = next(skipped, (None, []))
    with BufferedWriter(path, schema) as writer:
        for fi, rows in positions.by_file():
            rf = files[fi]
            while skip_fi is not None and skip_fi < fi:
                skip_fi, skip_rows = next(skipped, (None, []))
            moved = {r for r, _ in skip_rows} if skip_fi == fi else set()  # one file's moved rows
            want = {r: d for r, d in rows if r not in moved}
            pf = open_parquet(rf.path, ROW_READ_BUFFER_BYTES)
            for picked, got in iter_rows_at(pf, sorted(want)):
                writer.write(_to_label_table(picked, rf, [want[p] for p in got], cache, schema))
                written += len(got)
    return written


def _to_label_table(rows: pa.RecordBatch, rf: ReleaseFile, details: list[str], cache: dict,
                    schema: pa.Schema) -> pa.Table:
    n = rows.num_rows
    names = rows.schema.names
    cols = {f.name: rows.column(f.name) for f in schema if f.name in names}
    cols.setdefault("lang", pa.array([rf.lang] * n, pa.string()))
    cols["source"] = pa.array(sources_of(rows.column("source_uri"), cache), pa.string())
    cols["quality_band"] = pa.array(quality_bands(rows.column("quality") if "quality" in names else None, n))
    cols["change"] = pa.array([d.split(":", 1)[0] for d in details], pa.string())
    cols["change_detail"] = pa.array([d.split(":", 1)[1] for d in details], pa.string())
    arrays = [pa.nulls(n, f.type) if f.name not in cols else cols[f.name].cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def format_summary(s: dict) -> str:
    c = s["counts"]
    lines = [f"old {s['old']['path']} (run {s['old']['run_id']})", f"new {s['new']['path']} (run {s['new']['run_id']})",
             "", f"added {c['added']:,}   removed {c['removed']:,}   changed {c['changed']:,}   "
             f"unchanged {c['unchanged']:,}   (not refined in either: {c['not_refined']:,})"]
    for cls in ("added", "removed", "changed"):
        reasons = s["by_reason"].get(cls)
        if reasons:
            lines.append(f"\n{cls} by {'origin' if cls == 'added' else 'reason'}:")
            lines += [f"  {n:>8,}  {k}" for k, n in reasons.items()]
    langs = sorted({lang for cls in ("added", "removed", "changed", "unchanged")
                    for lang in s["by_lang"].get(cls, {})})
    if langs:
        lines.append(f"\n{'lang':<10} {'added':>8} {'removed':>8} {'changed':>8} {'unchanged':>9}")
        for lang in langs:
            row = [s["by_lang"].get(cls, {}).get(lang, 0) for cls in ("added", "removed", "changed", "unchanged")]
            lines.append(f"{lang:<10} {row[0]:>8,} {row[1]:>8,} {row[2]:>8,} {row[3]:>9,}")
    if s["config_changes"]:
        lines.append("\nconfig keys that differ (old → new):")
        lines += [f"  {k}: {a!r} → {b!r}" for k, (a, b) in s["config_changes"].items()]
    if s.get("moved"):
        lines.append(f"\nmoved (a removed doc_id's exact text under an added doc_id): {s['moved']:,}")
    if "to_label_rows" in s:
        lines.append(f"to label: {s['to_label_rows']:,} added or changed records in to_label.parquet "
                     "(moved ones need no new label)")
    return "\n".join(lines)
