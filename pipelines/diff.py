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
doc_id): it needs no new label, and ``refinery labels attach --moves DIFF`` follows it. Finding moves
holds the text hashes of the added and removed records; past :data:`MOVE_LIMIT` of either, it is
skipped and the summary says so.

It works from the two folders alone (manifests and Parquet files) and never loads a release: refined/
and rejected/ files are sorted by doc_id (the output contract), so a k-way merge of a release's files,
one small record batch per file, is one stream sorted by doc_id, and the two streams are joined in a
single pass. What it keeps: counters, the ``errors/`` rows that carry a doc_id (normally few), and 8
bytes per added or changed record (its position, to write it out afterwards).

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

import pyarrow as pa

import refinery
from refinery.pipelines.release import (
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
    release_files,
    sources_of,
    text_digest,
)
from refinery.schemas import REFINED_SCHEMA

CLASSES = ("added", "removed", "changed", "unchanged", "not_refined")
MOVE_LIMIT = 2_000_000  # added or removed records whose text hashes are held to find moves (~200 B each)
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


def _file_stream(rf: ReleaseFile, fi: int, batch_size: int) -> Iterator[tuple[str, Side]]:
    """(doc_id, Side) for every row of one refined/ or rejected/ file, checking the doc_id order."""
    pf = open_parquet(rf.path)
    cols = available(pf, ["doc_id", "text", "lang", "reject_stage", "reject_reason", "reject_detail", "dup_of"])
    if "doc_id" not in cols:
        raise ReleaseError(f"{rf.path}: no doc_id column (not a refinery output file?)")
    prev = None
    row = 0
    for batch in iter_batches(pf, cols, batch_size):
        n = batch.num_rows
        # Only the text's hash is kept: the batch (and its text) is released before the rows are yielded.
        shas = [text_digest(t) for t in batch.column("text").to_pylist()] if "text" in cols else [None] * n
        d = {c: batch.column(c).to_pylist() for c in cols if c != "text"}
        del batch
        ids = d["doc_id"]
        langs = d.get("lang") or [rf.lang] * n
        none = [None] * n
        for i in range(n):
            doc_id = ids[i]
            if prev is not None and doc_id <= prev:
                what = "repeats" if doc_id == prev else "is out of order"
                raise ReleaseError(f"{rf.path}: row {row + i}: doc_id {doc_id} {what} (files of a release are "
                                   "sorted by unique doc_id; was this file written by refinery?)")
            prev = doc_id
            if rf.kind == "refined":
                side = Side("refined", fi, row + i, langs[i], shas[i])
            else:
                side = Side("rejected", fi, row + i, langs[i], shas[i], d.get("reject_stage", none)[i],
                            d.get("reject_reason", none)[i], d.get("reject_detail", none)[i],
                            d.get("dup_of", none)[i])
            yield doc_id, side
        row += n


def _errors_stream(files: list[ReleaseFile]) -> Iterator[tuple[str, Side]]:
    """errors/ rows that carry a doc_id, sorted (errors/ files are sorted by source, not id)."""
    rows = []
    for rf in files:
        pf = open_parquet(rf.path)
        cols = available(pf, ["doc_id", "error"])
        if "doc_id" not in cols:
            continue
        for batch in iter_batches(pf, cols, 8192):
            d = batch.to_pydict()
            for doc_id, err in zip(d["doc_id"], d.get("error", [None] * batch.num_rows)):
                if doc_id is not None:
                    rows.append((doc_id, Side("errors", -1, -1, None, None, error=err)))
    rows.sort(key=lambda t: t[0])
    return iter(rows)


# At most this many files are merged at once: a release with more is merged in rounds, each group of
# files into one sorted run of narrow rows (doc_id, hashes, reasons) in a temporary folder. Each open
# file holds a decoded page of its text column (~1-2 MB), so this bounds the memory of a release with
# thousands of files.
MERGE_FAN_IN = 64

_RUN_SCHEMA = pa.schema([
    pa.field("doc_id", pa.string()), pa.field("output", pa.string()), pa.field("file", pa.int64()),
    pa.field("row", pa.int64()), pa.field("lang", pa.string()), pa.field("text_sha256", pa.string()),
    pa.field("reject_stage", pa.string()), pa.field("reject_reason", pa.string()),
    pa.field("reject_detail", pa.string()), pa.field("dup_of", pa.string()), pa.field("error", pa.string()),
])
_SIDE_FIELDS = _RUN_SCHEMA.names[1:]


def _write_run(stream: Iterator[tuple[str, Side]], path: str) -> None:
    with BufferedWriter(path, _RUN_SCHEMA) as w:
        rows: list[dict] = []
        for doc_id, side in stream:
            rows.append({"doc_id": doc_id, **{f: getattr(side, f) for f in _SIDE_FIELDS}})
            if len(rows) == 8192:
                w.write(pa.Table.from_pylist(rows, schema=_RUN_SCHEMA))
                rows = []
        if rows:
            w.write(pa.Table.from_pylist(rows, schema=_RUN_SCHEMA))


def _read_run(path: str) -> Iterator[tuple[str, Side]]:
    for batch in iter_batches(open_parquet(path), None, 1024):
        for r in batch.to_pylist():
            yield r.pop("doc_id"), Side(**r)


def release_stream(files: list[ReleaseFile], workdir: str | None = None) -> Iterator[tuple[str, Side]]:
    """Every doc_id of a release once, in doc_id order (a doc_id in two outputs is an error). With more
    than :data:`MERGE_FAN_IN` files, sorted runs are written under ``workdir`` first."""
    data = [(fi, rf) for fi, rf in enumerate(files) if rf.kind in ("refined", "rejected")]
    streams = [_file_stream(rf, fi, 1024) for fi, rf in data]  # a file opens when its stream starts
    level = 0
    while len(streams) > MERGE_FAN_IN:
        if workdir is None:
            raise ValueError("release_stream: a release with this many files needs a workdir")
        runs = []
        for g in range(0, len(streams), MERGE_FAN_IN):
            path = os.path.join(workdir, f"run-{id(files)}-{level}-{g // MERGE_FAN_IN}.parquet")
            _write_run(heapq.merge(*streams[g:g + MERGE_FAN_IN], key=lambda t: t[0]), path)
            runs.append(_read_run(path))
        streams = runs
        level += 1
    streams.append(_errors_stream([rf for rf in files if rf.kind == "errors"]))
    prev = None
    for doc_id, side in heapq.merge(*streams, key=lambda t: t[0]):
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
    counts: Counter = Counter()
    by_lang: dict[str, Counter] = {c: Counter() for c in CLASSES}
    by_detail: dict[str, Counter] = {c: Counter() for c in CLASSES}
    to_label: dict[int, array] = {}
    label_detail: dict[int, list[str]] = {}
    removed_text: dict[str, tuple[str, str | None]] = {}   # text hash → (old doc_id, lang)
    added_text: list[tuple[str, str, str | None, int, int]] = []  # (hash, new doc_id, lang, file, row)
    moves_possible = True
    writer = None
    buffer: list[dict] = []
    if output is not None:
        prepare_folder(output, overwrite, (old_dir, new_dir))
        writer = BufferedWriter(os.path.join(output, "changes.parquet"), CHANGES_SCHEMA)
    workdir = tempfile.TemporaryDirectory(prefix="refinery-diff-")
    try:
        joined = _joined(release_stream(old_files, workdir.name), release_stream(new_files, workdir.name))
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
            if cls in ("added", "changed"):
                to_label.setdefault(new.file, array("q")).append(new.row)
                label_detail.setdefault(new.file, []).append(f"{cls}:{detail}")
            if moves_possible and cls == "removed" and old.text_sha256:
                removed_text.setdefault(old.text_sha256, (doc_id, old.lang))
                moves_possible = len(removed_text) <= MOVE_LIMIT
            elif moves_possible and cls == "added" and new.text_sha256:
                added_text.append((new.text_sha256, doc_id, new.lang, new.file, new.row))
                moves_possible = len(added_text) <= MOVE_LIMIT
            if writer is not None and cls in ("added", "removed", "changed"):
                buffer.append(_change_row(doc_id, cls, detail, old, new))
                if len(buffer) >= 8192:
                    writer.write(pa.Table.from_pylist(buffer, schema=CHANGES_SCHEMA))
                    buffer = []
        if writer is not None and buffer:
            writer.write(pa.Table.from_pylist(buffer, schema=CHANGES_SCHEMA))
    finally:
        if writer is not None:
            writer.close()
        workdir.cleanup()
    moves = []
    if moves_possible:
        for sha, new_id, new_lang, fi, row in added_text:
            hit = removed_text.pop(sha, None)  # one removed record moves to at most one added record
            if hit is not None:
                moves.append({"old_doc_id": hit[0], "new_doc_id": new_id, "text_sha256": sha, "old_lang": hit[1],
                              "new_lang": new_lang, "_at": (fi, row)})
    del removed_text, added_text
    summary = {
        "kind": "refinery-diff",
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "refinery_version": refinery.__version__,
        "old": _identity(old_dir, old_m),
        "new": _identity(new_dir, new_m),
        "config_changes": config_changes(old_m, new_m),
        "counts": {c: counts.get(c, 0) for c in CLASSES},
        "by_lang": {c: dict(sorted(v.items())) for c, v in by_lang.items() if v},
        "by_reason": {c: dict(v.most_common()) for c, v in by_detail.items() if v and c != "not_refined"},
        "moved": len(moves) if moves_possible else None,
        "moves_found": "yes" if moves_possible else f"skipped: more than {MOVE_LIMIT:,} added or removed records",
    }
    if output is not None:
        moved_at = {m.pop("_at") for m in moves}
        summary["to_label_rows"] = _write_to_label(new_files, to_label, label_detail,
                                                   os.path.join(output, "to_label.parquet"), new_m, moved_at)
        with BufferedWriter(os.path.join(output, "moved.parquet"), MOVED_SCHEMA) as w:
            if moves:
                w.write(pa.Table.from_pylist(moves, schema=MOVED_SCHEMA))
        summary["files"] = ["changes.parquet", "to_label.parquet", "moved.parquet", "summary.json"]
        with open(os.path.join(output, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
    return summary


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


def _write_to_label(files: list[ReleaseFile], rows: dict[int, array], details: dict[int, list[str]],
                    path: str, manifest: dict, skip: set[tuple[int, int]]) -> int:
    """The new release's full rows at the recorded positions (less the moved records in ``skip``: their
    text is labelled already), file by file, batch by batch."""
    schema = TO_LABEL_SCHEMA.with_metadata({"refinery.kind": "diff-to-label",
                                            "refinery.release_run_id": str(manifest.get("run_id"))})
    written = 0
    cache: dict[str, str] = {}
    with BufferedWriter(path, schema) as writer:
        for fi in sorted(rows):
            rf = files[fi]
            want = {r: d for r, d in zip(rows[fi], details[fi]) if (fi, r) not in skip}
            positions = sorted(want)
            pf = open_parquet(rf.path)
            for picked, got in iter_rows_at(pf, positions):
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
    elif s.get("moved") is None:
        lines.append(f"\nmoves not looked for ({s['moves_found']})")
    if "to_label_rows" in s:
        lines.append(f"to label: {s['to_label_rows']:,} added or changed records in to_label.parquet "
                     "(moved ones need no new label)")
    return "\n".join(lines)
