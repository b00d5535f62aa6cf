"""``refinery export`` and ``refinery labels attach``: records out to a labelling tool, labels back in.

Export reads a sample folder (``refinery sample``), a diff folder (its ``to_label.parquet``), a Parquet
file or a folder of them, batch by batch, and writes:

- ``label-studio``: a JSON array of Label Studio tasks, ``{"data": {...}, "meta": {...}}``: ``data``
  holds ``text`` and the fields a labelling config may show (``doc_id`` always: it is how labels come
  back), ``meta`` the record's lineage (doc_id, source file, line, sha256, original id, run id,
  refinery version, config hash, stages, and the sample's stratum and weight when there are some);
- ``jsonl`` / ``csv``: one record per line / row with the same fields, lineage included.

``--field NAME=COLUMN`` (repeatable) chooses the fields and their names, e.g. ``--field content=text``
for a labelling config that reads ``$content``; ``doc_id`` is always kept. Besides the file's columns,
``text_sha256`` (the exact text's hash, so that a label can later tell whether its text changed),
``source`` and ``quality_band`` are available.

Labels come back as a Label Studio JSON export (full or JSON-MIN), a JSONL of ``{"doc_id", "label"}``
objects, or the Parquet that an earlier ``attach`` wrote (to carry labels to a new release). ``attach``
joins them onto a release by doc_id, reading the release's doc_ids and then only the row groups that
hold labelled records, and writes one row per label with its status:

- ``attached``         the record is refined, with the text it was labelled on (or no hash to compare);
- ``moved``            (with ``--moves DIFF``) the labelled doc_id is gone, but ``refinery diff`` found its
                       exact text under a new doc_id (a renamed file, a shifted line): attached there;
- ``text_changed``     the record is refined but its text differs from the labelled one: relabel;
- ``record_rejected``  the record is in rejected/ now (``reject_reason`` says why);
- ``record_error``     the record is in errors/ now;
- ``record_missing``   no record with that doc_id exists in the release.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from refinery.arrow_io import hive_partitioning
from refinery.pipelines.release import (
    BufferedWriter,
    available,
    iter_batches,
    iter_rows_at,
    open_parquet,
    quality_bands,
    read_manifest,
    release_files,
    sources_of,
    text_digest,
)

FORMATS = ("label-studio", "jsonl", "csv")
DATA_FIELDS = ["text", "doc_id", "lang", "licence_category", "source", "quality_band", "text_sha256"]
LINEAGE_FIELDS = ["doc_id", "source_uri", "source_line", "source_sha256", "original_id", "run_id",
                  "refinery_version", "config_sha256", "stages", "stratum", "sample_weight"]
FLAT_FIELDS = ["doc_id", "text", "lang", "licence_category", "source", "quality_band", "text_sha256",
               "source_uri", "source_line", "source_sha256", "original_id", "run_id", "config_sha256",
               "stratum", "sample_weight"]
DERIVED = ("text_sha256", "source", "quality_band")
STATUSES = ("attached", "moved", "text_changed", "record_rejected", "record_error", "record_missing")


class LabellingError(ValueError):
    """Bad export or labels input; the message names the file, line or field."""


# ---------------------------------------------------------------------------------------------- export

def records_path(path: str) -> str:
    """The Parquet that ``path`` stands for: a sample folder, a diff folder, a file or a folder of files."""
    if os.path.isdir(path):
        for name in ("sample.parquet", "to_label.parquet"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        if os.path.isdir(os.path.join(path, "refined")):
            return os.path.join(path, "refined")
        return path
    if os.path.isfile(path):
        return path
    raise LabellingError(f"{path}: no such file or folder")


def iter_records(path: str, batch_size: int = 2048) -> Iterator[pa.RecordBatch]:
    """Record batches of the sample / diff / Parquet at ``path`` (Hive partitions become columns)."""
    src = records_path(path)
    try:
        if os.path.isfile(src):
            yield from iter_batches(pq.ParquetFile(src), None, batch_size)
            return
        dataset = ds.dataset(src, format="parquet", partitioning=hive_partitioning())
        yield from dataset.to_batches(batch_size=batch_size, use_threads=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LabellingError(f"{src}: not readable as Parquet ({exc})") from None


def parse_fields(specs: list[str]) -> list[tuple[str, str]]:
    """``NAME=COLUMN`` (or ``COLUMN``) → [(name, column)], ``doc_id`` first and always there."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, _, column = spec.partition("=")
        name, column = name.strip(), (column or name).strip()
        if not name or not column:
            raise LabellingError(f"--field {spec!r}: expected NAME=COLUMN (e.g. content=text) or COLUMN")
        if any(n == name for n, _c in out):
            raise LabellingError(f"--field {spec!r}: the name {name!r} is given twice")
        out.append((name, column))
    if not any(c == "doc_id" for _n, c in out):
        out.insert(0, ("doc_id", "doc_id"))
    return out


def _columns(batch: pa.RecordBatch, needed: set[str], cache: dict) -> dict[str, list]:
    names = set(batch.schema.names)
    n = batch.num_rows
    cols = {c: batch.column(c).to_pylist() for c in needed if c in names}
    if "text_sha256" in needed and "text_sha256" not in names:
        cols["text_sha256"] = [text_digest(t) for t in batch.column("text").to_pylist()]
    if "source" in needed and "source" not in names and "source_uri" in names:
        cols["source"] = sources_of(batch.column("source_uri"), cache)
    if "quality_band" in needed and "quality_band" not in names:
        cols["quality_band"] = quality_bands(batch.column("quality") if "quality" in names else None, n)
    return cols


def _check(batch: pa.RecordBatch, columns: set[str], path: str, explicit: bool) -> set[str]:
    names = set(batch.schema.names)
    have = names | {d for d in DERIVED if d != "text_sha256" or "text" in names}
    for required in ("doc_id", "text"):
        if required not in names:
            raise LabellingError(f"{path}: no {required!r} column (columns: {', '.join(sorted(names))})")
    missing = sorted(c for c in columns if c not in have)
    if missing and explicit:
        raise LabellingError(f"--field: no column {', '.join(missing)} in {path}; "
                             f"columns: {', '.join(sorted(have))}")
    return {c for c in columns if c in have}


def export(path: str, fmt: str, open_out, fields: list[str] | None = None) -> int:
    """Write the records at ``path`` in ``fmt`` to the text stream that ``open_out()`` returns (called
    once the input and the fields are known to be good, so a bad request writes nothing); returns the
    record count."""
    if fmt not in FORMATS:
        raise LabellingError(f"--format {fmt}: one of {', '.join(FORMATS)}")
    explicit = bool(fields)
    if fmt == "label-studio":
        mapping = parse_fields(fields) if explicit else [(c, c) for c in DATA_FIELDS]
    else:
        mapping = parse_fields(fields) if explicit else [(c, c) for c in FLAT_FIELDS]
    lineage = LINEAGE_FIELDS if fmt == "label-studio" else []
    cache: dict = {}
    n = 0
    writer = None
    checked: set[str] | None = None
    out = None
    for batch in iter_records(path):
        if checked is None:
            checked = _check(batch, {c for _n, c in mapping} | set(lineage), records_path(path), explicit)
            mapping = [(name, c) for name, c in mapping if c in checked]
            lineage = [c for c in lineage if c in checked]
            out = open_out()
            if fmt == "label-studio":
                out.write("[")
            if fmt == "csv":
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow([name for name, _c in mapping])
        cols = _columns(batch, {c for _n, c in mapping} | set(lineage), cache)
        for i in range(batch.num_rows):
            record = {name: cols[c][i] for name, c in mapping}
            if fmt == "label-studio":
                task = {"data": record, "meta": {c: cols[c][i] for c in lineage}}
                out.write(("\n" if n == 0 else ",\n") + json.dumps(task, ensure_ascii=False, default=str))
            elif fmt == "jsonl":
                out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            else:
                writer.writerow([_csv_value(v) for v in record.values()])
            n += 1
    if out is None:  # no records at all
        out = open_out()
        if fmt == "label-studio":
            out.write("[")
        elif fmt == "csv":
            csv.writer(out, lineterminator="\n").writerow([name for name, _c in mapping])
    if fmt == "label-studio":
        out.write("\n]\n")
    return n


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return v


# ---------------------------------------------------------------------------------------------- labels

@dataclass(frozen=True)
class Label:
    doc_id: str
    label: object                  # the label value (JSON-able)
    origin: str                    # file:line or file:task
    text_sha256: str | None = None  # hash of the text the label was given on, when known


def _ls_value(results: list[dict]):
    """Label Studio annotation results → {from_name: value}; one control with one value → that value."""
    out: dict = {}
    for r in results or []:
        value = r.get("value") or {}
        kind = r.get("type")
        v = value.get(kind) if kind in value else value
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        name = r.get("from_name") or kind or "label"
        if name in out:
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [v]
        else:
            out[name] = v
    if len(out) == 1:
        return next(iter(out.values()))
    return out


def _labels_from_json(path: str, data) -> Iterator[Label]:
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise LabellingError(f"{path}: expected a JSON array of Label Studio tasks")
    ls_keys = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "text"}
    for i, task in enumerate(data):
        where = f"{path}: task {i}"
        if not isinstance(task, dict):
            raise LabellingError(f"{where}: not an object")
        if "data" in task or "annotations" in task:  # full Label Studio JSON
            doc_id = (task.get("data") or {}).get("doc_id") or (task.get("meta") or {}).get("doc_id")
            if not doc_id:
                raise LabellingError(f"{where}: no data.doc_id (was it exported by refinery export?)")
            done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
            sha = (task.get("data") or {}).get("text_sha256")
            for a in done:
                yield Label(str(doc_id), _ls_value(a.get("result")), f"{where} annotation {a.get('id')}", sha)
        else:  # JSON-MIN: the task's data fields and one key per control
            doc_id = task.get("doc_id")
            if not doc_id:
                raise LabellingError(f"{where}: no doc_id field")
            if "label" in task:
                label = task["label"]
            else:
                label = {k: v for k, v in task.items()
                         if k not in ls_keys and k not in DATA_FIELDS and k not in LINEAGE_FIELDS}
            yield Label(str(doc_id), label, where, task.get("text_sha256"))


def read_labels(path: str) -> list[Label]:
    """Labels from a Label Studio JSON export, a JSONL of {doc_id, label}, or an attach Parquet."""
    if path.endswith(".parquet"):
        t = pq.read_table(path, use_threads=False)
        for col in ("doc_id", "label"):
            if col not in t.column_names:
                raise LabellingError(f"{path}: no {col!r} column (an attach output has doc_id, label, ...)")
        shas = (t.column("labelled_text_sha256") if "labelled_text_sha256" in t.column_names
                else pa.nulls(t.num_rows, pa.string())).to_pylist()
        return [Label(d, json.loads(lab) if isinstance(lab, str) else lab, f"{path}: row {i}", s)
                for i, (d, lab, s) in enumerate(zip(t.column("doc_id").to_pylist(), t.column("label").to_pylist(),
                                                     shas, strict=True))]
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096).lstrip()
            f.seek(0)
            if path.endswith(".json") or head.startswith("["):
                try:
                    return list(_labels_from_json(path, json.load(f)))
                except json.JSONDecodeError as exc:
                    raise LabellingError(f"{path}: line {exc.lineno}: not JSON ({exc.msg})") from None
            out = []
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LabellingError(f"{path}: line {lineno}: not JSON ({exc.msg})") from None
                if not isinstance(rec, dict) or not rec.get("doc_id") or "label" not in rec:
                    raise LabellingError(f"{path}: line {lineno}: expected an object with doc_id and label")
                out.append(Label(str(rec["doc_id"]), rec["label"], f"{path}: line {lineno}", rec.get("text_sha256")))
            return out
    except UnicodeDecodeError as exc:
        raise LabellingError(f"{path}: not UTF-8 text ({exc})") from None
    except FileNotFoundError:
        raise LabellingError(f"{path}: no such file") from None


ATTACHED_SCHEMA = pa.schema([
    pa.field("doc_id", pa.string(), nullable=False,
             metadata={"description": "The record's doc_id in this release (the labelled one, or where "
                                      "it moved)."}),
    pa.field("labelled_doc_id", pa.string(), metadata={"description": "The doc_id the label was given to."}),
    pa.field("label", pa.string(), metadata={"description": "The label, as JSON."}),
    pa.field("label_origin", pa.string(), metadata={"description": "Labels file and line / task."}),
    pa.field("status", pa.string(), metadata={"description": " | ".join(STATUSES)}),
    pa.field("labelled_text_sha256", pa.string(),
             metadata={"description": "Hash of the text the label was given on (what a later attach compares)."}),
    pa.field("text_sha256", pa.string(), metadata={"description": "Hash of the record's text in this release."}),
    pa.field("reject_stage", pa.string()),
    pa.field("reject_reason", pa.string()),
    pa.field("text", pa.string()),
    pa.field("lang", pa.string()),
    pa.field("licence_category", pa.string()),
    pa.field("source_uri", pa.string()),
    pa.field("source_line", pa.int64()),
    pa.field("original_id", pa.string()),
    pa.field("run_id", pa.string()),
])
_RECORD_COLUMNS = ["doc_id", "text", "lang", "licence_category", "source_uri", "source_line", "original_id",
                   "run_id"]


def read_moves(path: str) -> dict[str, str]:
    """old doc_id → new doc_id from a diff folder's ``moved.parquet`` (or that file)."""
    src = os.path.join(path, "moved.parquet") if os.path.isdir(path) else path
    if not os.path.isfile(src):
        raise LabellingError(f"--moves {path}: no moved.parquet (pass the folder `refinery diff --output` wrote)")
    t = pq.read_table(src, columns=["old_doc_id", "new_doc_id"], use_threads=False)
    return dict(zip(t.column("old_doc_id").to_pylist(), t.column("new_doc_id").to_pylist(), strict=True))


def attach_labels(release: str, label_files: list[str], output: str, moves_from: str | None = None) -> dict:
    """Join the labels onto ``release`` by doc_id (following ``refinery diff``'s moves when
    ``moves_from`` names a diff folder); write ``output`` (Parquet, one row per label) and return the
    report (counts per status and every label not attached as given)."""
    manifest = read_manifest(release)
    labels: list[Label] = []
    for path in label_files:
        labels.extend(read_labels(path))
    moves = read_moves(moves_from) if moves_from else {}
    ids = {lab.doc_id for lab in labels}
    found = _release_records(release, sorted(ids | {moves[i] for i in ids if i in moves}))
    status_counts: Counter = Counter()
    orphans = []
    rows = []
    for lab in labels:
        rec, target, status = _label_status(lab, found, moves)
        status_counts[status] += 1
        if status not in ("attached", "moved"):
            orphans.append({"doc_id": lab.doc_id, "status": status, "origin": lab.origin, "now": target,
                            "reject_reason": (rec or {}).get("reject_reason")})
        refined = rec is not None and rec["output"] == "refined"
        rows.append({
            "doc_id": target, "labelled_doc_id": lab.doc_id,
            "label": json.dumps(lab.label, ensure_ascii=False, sort_keys=True),
            "label_origin": lab.origin, "status": status,
            "labelled_text_sha256": lab.text_sha256 or (rec["text_sha256"] if refined else None),
            "text_sha256": (rec or {}).get("text_sha256"),
            "reject_stage": (rec or {}).get("reject_stage"), "reject_reason": (rec or {}).get("reject_reason"),
            **{c: (rec or {}).get(c) for c in _RECORD_COLUMNS if c != "doc_id"},
        })
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    schema = ATTACHED_SCHEMA.with_metadata({"refinery.kind": "labels",
                                            "refinery.release_run_id": str(manifest.get("run_id"))})
    with BufferedWriter(output, schema) as w:
        for i in range(0, len(rows), 8192):
            w.write(pa.Table.from_pylist(rows[i:i + 8192], schema=schema))
    return {"release": release, "release_run_id": manifest.get("run_id"), "labels": len(labels),
            "records_labelled": len(ids), "moves_from": moves_from,
            "counts": {s: status_counts.get(s, 0) for s in STATUSES}, "not_attached": orphans, "output": output}


def _release_records(release: str, doc_ids: list[str]) -> dict[str, dict]:
    """The release's records (refined, rejected or errors: ``output``) of ``doc_ids``, by doc_id, with their
    lang and ``text_sha256``."""
    wanted = pa.array(doc_ids, pa.string())
    found: dict[str, dict] = {}
    for rf in release_files(release):
        pf = open_parquet(rf.path)
        if "doc_id" not in pf.schema_arrow.names:
            continue
        positions = []
        row = 0
        for batch in iter_batches(pf, ["doc_id"], 65536):
            hit = pc.is_in(batch.column("doc_id"), value_set=wanted)
            positions.extend(row + i for i in pc.indices_nonzero(hit).to_pylist())
            row += batch.num_rows
        if not positions:
            continue
        cols = available(pf, _RECORD_COLUMNS + ["reject_stage", "reject_reason"])
        for rows, _pos in iter_rows_at(pf, positions, cols):
            for r in rows.to_pylist():
                r.setdefault("lang", rf.lang)
                r["output"] = rf.kind
                r["text_sha256"] = text_digest(r.get("text"))
                found[r["doc_id"]] = r
    return found


def _label_status(lab: Label, found: dict[str, dict], moves: dict[str, str]) -> tuple[dict | None, str, str]:
    """(record, doc_id it is now, status) of one label: its own record, or the refined record it moved to."""
    rec = found.get(lab.doc_id)
    target = lab.doc_id
    moved = False
    if (rec is None or rec["output"] != "refined") and lab.doc_id in moves:
        there = found.get(moves[lab.doc_id])
        if there is not None and there["output"] == "refined":
            rec, target, moved = there, moves[lab.doc_id], True
    if rec is None:
        status = "record_missing"
    elif rec["output"] == "rejected":
        status = "record_rejected"
    elif rec["output"] == "errors":
        status = "record_error"
    elif lab.text_sha256 and lab.text_sha256 != rec["text_sha256"]:
        status = "text_changed"
    else:
        status = "moved" if moved else "attached"
    return rec, target, status


def format_report(report: dict, limit: int = 20) -> str:
    c = report["counts"]
    lines = [f"{report['labels']:,} labels on {report['records_labelled']:,} records → release "
             f"{report['release']} (run {report['release_run_id']})",
             "  " + "   ".join(f"{s} {c[s]:,}" for s in STATUSES)]
    bad = report["not_attached"]
    if bad:
        lines.append(f"\nlabels whose record is not refined as labelled ({len(bad):,}):")
        for o in bad[:limit]:
            why = f" ({o['reject_reason']})" if o.get("reject_reason") else ""
            lines.append(f"  {o['doc_id']}  {o['status']}{why}  from {o['origin']}")
        if len(bad) > limit:
            lines.append(f"  ... {len(bad) - limit:,} more (all in --report)")
    lines.append(f"\nwrote {report['output']}")
    return "\n".join(lines)


def open_output(path: str | None):
    """A text stream for ``--output`` (stdout for none or '-')."""
    if path in (None, "-"):
        return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return open(path, "w", encoding="utf-8", newline="")


__all__ = ["FORMATS", "Label", "LabellingError", "attach_labels", "export", "format_report",
           "open_output", "read_labels"]
