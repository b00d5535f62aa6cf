"""``refinery sketch`` and ``refinery overlap``: two data owners find what they share, text never leaves.

- ``refinery sketch [CONFIG] --input PATTERN --output SKETCHES [--salt-file FILE]``: reads the input
  (ingest and language identification only) and writes ``SKETCHES/index/`` — the dedup index of
  :mod:`refinery.transforms.dedup_index` for every record, with the content hash salted (HMAC-SHA256)
  when a salt is given — and nothing else: no text, no refined/ output.
- ``refinery overlap SKETCHES_A SKETCHES_B [--output DECISIONS] [--threshold T]``: which documents of A
  have a near duplicate in B (LSH candidates on the band digests, MinHash-estimated Jaccard >= T):
  counts, per language of A, a histogram of the estimates, as JSON on stdout. ``--output`` writes
  ``DECISIONS/index/`` (the index rows of B's matched documents only) and ``DECISIONS/overlap.json``
  (the pairs); owner A applies them with ``refinery run ... --dedup-against DECISIONS``.

The overlap step holds both sketch sets in one process (about 0.6 KB per document: ~6 GB for 10M);
it is meant for the sketches two owners exchange, not for a crawl's full index.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from refinery.transforms.dedup_index import INDEX_DIR, INDEX_SCHEMA, estimated_jaccard

# --- sketch ---------------------------------------------------------------------------------------

class _SketchRowsFn:
    """Records → index rows (pure part, batched by the caller)."""

    def __init__(self, cfg, salt: bytes | None):
        self.cfg, self.salt = cfg, salt

    def rows(self, records: list[dict]) -> list[dict]:
        from refinery.transforms.dedup import (
            band_digests,
            content_hash,
            dedup_normalise,
            has_shingles,
            lsh_params,
            sketch_batch,
        )
        from refinery.transforms.dedup_index import salted_hash

        d = self.cfg.dedup
        bands, rows = lsh_params(d.threshold, d.num_perm)
        norms = [dedup_normalise(r["text"], d.fold_chinese_variants) for r in records]
        _sets, sigs = sketch_batch(norms, d)
        digests = band_digests(sigs, bands, rows)
        ok = has_shingles(sigs)
        out = []
        for i, (rec, norm) in enumerate(zip(records, norms, strict=True)):
            out.append({"doc_id": rec["doc_id"], "lang": rec.get("lang"),
                        "content_hash": salted_hash(norm, self.salt) if self.salt else content_hash(norm),
                        "bands": digests[i].tolist() if ok[i] else [], "signature": sigs[i].tolist()})
        return out


def sketch(inputs: list[str], out_dir: str, cfg, salt: bytes | None, run_id: str) -> None:
    """Build and run the sketch pipeline: ReadCrude → DetectLanguage → index rows → SKETCHES/index/."""
    import apache_beam as beam

    from refinery.transforms.beam.dedup_index import WriteDedupIndex
    from refinery.transforms.beam.ingest import ReadCrude
    from refinery.transforms.beam.language import DetectLanguage
    from refinery.transforms.beam.stage import KEPT
    from refinery.transforms.dedup import lsh_params
    from refinery.transforms.dedup_index import index_params

    d = cfg.dedup
    bands, rows = lsh_params(d.threshold, d.num_perm)
    fn = _SketchRowsFn(cfg, salt)
    with beam.Pipeline() as p:
        recs = (p | "ReadCrude" >> ReadCrude(inputs, cfg, spread_records=False))[KEPT]
        if cfg.language.enabled:
            recs = (recs | "DetectLanguage" >> DetectLanguage(cfg, in_process=True))[KEPT]
        (recs | "Batch" >> beam.BatchElements(min_batch_size=32, max_batch_size=256)
         | "Rows" >> beam.FlatMap(fn.rows)
         | "Write" >> WriteDedupIndex(out_dir, run_id, d.index_shards, index_params(d, bands, rows, salted=bool(salt))))


def cmd_sketch(argv: list[str]) -> int:
    from refinery.pipelines.config import ConfigError, load_config
    from refinery.pipelines.run import new_run_id

    parser = argparse.ArgumentParser(
        prog="refinery sketch",
        description="Write only the dedup index of the input (no text) to SKETCHES/index/, for `refinery overlap`.")
    parser.add_argument("config", nargs="?", help="YAML config (its ingest, language and dedup sections apply)")
    parser.add_argument("--input", "-i", action="append", required=True, metavar="PATTERN")
    parser.add_argument("--output", "-o", required=True, metavar="SKETCHES")
    parser.add_argument("--salt-file", metavar="FILE",
                        help="secret shared by the two owners: content hashes become HMAC-SHA256(salt, text key), "
                             "so a guessed short text cannot be confirmed from the index by anyone else")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"refinery sketch: {exc}", file=sys.stderr)
        return 2
    if os.path.exists(os.path.join(args.output, INDEX_DIR)):
        print(f"refinery sketch: {args.output}/{INDEX_DIR} exists: choose a new folder", file=sys.stderr)
        return 2
    salt = None
    if args.salt_file:
        with open(args.salt_file, "rb") as f:
            salt = f.read()
        if len(salt) < 16:
            print("refinery sketch: --salt-file: use a secret of at least 16 bytes", file=sys.stderr)
            return 2
    inputs = [os.path.abspath(p) if "://" not in p else p for p in args.input]
    sketch(inputs, args.output, cfg, salt, new_run_id())
    n = sum(pq.ParquetFile(os.path.join(args.output, INDEX_DIR, f)).metadata.num_rows
            for f in os.listdir(os.path.join(args.output, INDEX_DIR)) if f.endswith(".parquet"))
    print(f"refinery sketch: {n} documents sketched to {args.output}/{INDEX_DIR}/ (no text)", file=sys.stderr)
    return 0


# --- overlap --------------------------------------------------------------------------------------

def read_sketches(folder: str) -> tuple[pa.Table, dict[bytes, bytes]]:
    files = sorted(os.path.join(folder, INDEX_DIR, f) for f in os.listdir(os.path.join(folder, INDEX_DIR))
                   if f.endswith(".parquet"))
    if not files:
        return INDEX_SCHEMA.empty_table(), {}
    meta = pq.ParquetFile(files[0]).schema_arrow.metadata or {}
    return pa.concat_tables([pq.read_table(f) for f in files]), meta


def overlap(a: pa.Table, b: pa.Table, threshold: float) -> list[tuple[str, str, float]]:
    """(a doc_id, b doc_id, estimate) for every A document's best B match (highest estimate, then
    smallest doc_id) at or above ``threshold``, among LSH candidates (a shared band digest)."""
    bucket: dict[tuple[int, int], list[int]] = {}
    for j, bands in enumerate(b.column("bands").to_pylist()):
        for band, digest in enumerate(bands):
            bucket.setdefault((band, digest), []).append(j)
    b_sigs = b.column("signature").to_pylist()
    b_ids = b.column("doc_id").to_pylist()
    out = []
    for a_id, bands, sig in zip(a.column("doc_id").to_pylist(), a.column("bands").to_pylist(),
                                a.column("signature").to_pylist(), strict=True):
        cands = {j for band, digest in enumerate(bands) for j in bucket.get((band, digest), ())}
        if not cands:
            continue
        s = np.asarray(sig, dtype=np.uint32)
        best = None
        for j in cands:
            est = estimated_jaccard(s, np.asarray(b_sigs[j], dtype=np.uint32))
            key = (-est, b_ids[j])
            if est >= threshold and (best is None or key < best[0]):
                best = (key, b_ids[j], est)
        if best is not None:
            out.append((a_id, best[1], round(best[2], 4)))
    return sorted(out)


def overlap_report(a: pa.Table, b: pa.Table, pairs, a_meta, b_meta) -> dict:
    lang_of = dict(zip(a.column("doc_id").to_pylist(), a.column("lang").to_pylist(), strict=True))
    n_lang: dict[str, int] = {}
    for lang in a.column("lang").to_pylist():
        n_lang[str(lang)] = n_lang.get(str(lang), 0) + 1
    per_lang: dict[str, dict] = {}
    hist = {f"{lo:.2f}-{lo + 0.05:.2f}": 0 for lo in np.arange(0.0, 1.0, 0.05).round(2)}
    for a_id, _b_id, est in pairs:
        lang = str(lang_of.get(a_id))
        e = per_lang.setdefault(lang, {"documents": n_lang.get(lang, 0), "with_near_duplicate_in_b": 0})
        e["with_near_duplicate_in_b"] += 1
        lo = min(0.95, np.floor(est * 20) / 20)
        hist[f"{lo:.2f}-{lo + 0.05:.2f}"] += 1
    a_hash, b_hash = set(a.column("content_hash").to_pylist()), set(b.column("content_hash").to_pylist())
    same_salt = (a_meta.get(b"refinery.dedup.salted") == b_meta.get(b"refinery.dedup.salted"))
    return {
        "documents_a": a.num_rows, "documents_b": b.num_rows,
        "a_with_near_duplicate_in_b": len(pairs),
        "a_exact_in_b": sum(h in b_hash for h in a.column("content_hash").to_pylist()) if same_salt else None,
        "distinct_exact_shared": len(a_hash & b_hash) if same_salt else None,
        "jaccard_estimate_histogram": {k: v for k, v in hist.items() if v},
        "per_language_a": dict(sorted(per_lang.items())),
    }


def cmd_overlap(argv: list[str]) -> int:
    from refinery.atomic import write_atomic  # imports Beam's filesystems: not for `refinery --help`
    from refinery.transforms.dedup_index import COMPAT_KEYS

    parser = argparse.ArgumentParser(
        prog="refinery overlap",
        description="Which documents of A have near duplicates in B, from two `refinery sketch` folders.")
    parser.add_argument("sketches_a")
    parser.add_argument("sketches_b")
    parser.add_argument("--threshold", type=float, default=0.8, help="MinHash-estimated Jaccard (default 0.8)")
    parser.add_argument("--output", "-o", metavar="DECISIONS",
                        help="write DECISIONS/index/ (B's matched rows) and DECISIONS/overlap.json; "
                             "owner A applies it with `refinery run --dedup-against DECISIONS`")
    args = parser.parse_args(argv)
    try:
        a, a_meta = read_sketches(args.sketches_a)
        b, b_meta = read_sketches(args.sketches_b)
    except (OSError, pa.ArrowInvalid) as exc:
        print(f"refinery overlap: {exc}", file=sys.stderr)
        return 2
    keys = [f"refinery.dedup.{k}".encode() for k in (*COMPAT_KEYS, "bands", "rows")]
    diff = [k.decode() for k in keys if a.num_rows and b.num_rows and a_meta.get(k) != b_meta.get(k)]
    if diff:
        print(f"refinery overlap: the sketches were made with other dedup parameters: {', '.join(diff)}",
              file=sys.stderr)
        return 2
    pairs = overlap(a, b, args.threshold)
    report = overlap_report(a, b, pairs, a_meta, b_meta)
    print(json.dumps(report, indent=1, sort_keys=True))
    if args.output:
        matched = sorted({bid for _a, bid, _e in pairs})
        rows = b.filter(pc.is_in(b.column("doc_id"), value_set=pa.array(matched, pa.string())))
        rows = rows.sort_by("doc_id").replace_schema_metadata(b_meta)
        buf = io.BytesIO()
        pq.write_table(rows, buf, compression="zstd")
        write_atomic(os.path.join(args.output, INDEX_DIR, "part-00000-of-00001.parquet"), buf.getvalue())
        write_atomic(os.path.join(args.output, "overlap.json"), json.dumps(
            {**report, "pairs": [{"a": x, "b": y, "jaccard_estimate": e} for x, y, e in pairs]},
            indent=1, sort_keys=True).encode())
    return 0


COMMANDS = {
    "sketch": (cmd_sketch, "write only the dedup index of an input (no text), for `overlap`"),
    "overlap": (cmd_overlap, "which documents of A have near duplicates in B, from two sketches"),
}
