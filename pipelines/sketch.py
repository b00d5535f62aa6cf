"""``refinery sketch`` and ``refinery overlap``: two data owners find what they share, text never leaves.

- ``refinery sketch [CONFIG] --input PATTERN --output SKETCHES [--salt-file FILE]``: reads the input
  (ingest and language identification only) and writes ``SKETCHES/index/`` — the dedup index of
  :mod:`refinery.transforms.dedup_index` for every record, with the content hash salted (HMAC-SHA256)
  when a salt is given — and nothing else: no text, no refined/ output.
- ``refinery overlap SKETCHES_A SKETCHES_B [--output DECISIONS] [--threshold T]``: which documents of A
  have a near duplicate in B (LSH candidates on the band digests, MinHash-estimated Jaccard >= T):
  counts, per language of A, a histogram of the estimates, as JSON on stdout. ``--output`` writes
  ``DECISIONS/index/`` (the index rows of B's matched documents only), ``DECISIONS/pairs/`` (Parquet:
  a, b, jaccard_estimate) and ``DECISIONS/overlap.json`` (the report); owner A applies them with
  ``refinery run ... --dedup-against DECISIONS``.

``overlap`` is a Beam pipeline keyed at every step (band buckets, candidate pairs, best match per A
document): no process holds either sketch set, and Beam's flags pass through (``--runner FlinkRunner``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from refinery.transforms.dedup_index import INDEX_DIR

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


def check_beam_args(parser: argparse.ArgumentParser, beam_args: list[str]) -> None:
    """Every flag argparse left must be one of Beam's (they pass through to PipelineOptions)."""
    from refinery.pipelines.cli import beam_flags

    if beam_args and not beam_args[0].startswith("-"):
        parser.error(f"unexpected argument {beam_args[0]!r}")
    for tok in beam_args:
        if tok.startswith("--") and tok.split("=", 1)[0] not in beam_flags():
            parser.error(f"unknown flag {tok.split('=', 1)[0]} (Beam's flags pass through: see `refinery run --help`)")


@contextlib.contextmanager
def engine_for_command(beam_args: list[str], prog: str):
    """(the flags to run with, parallelism): for ``--runner FlinkRunner`` / ``SparkRunner`` the embedded
    engine is started first (:func:`refinery.pipelines.engines.prepare`) and stopped after, its
    temporary files with it. Raises :class:`refinery.pipelines.engines.EngineError`."""
    from refinery.pipelines import engines
    from refinery.pipelines.cli import _beam_flag

    work = tempfile.mkdtemp(prefix=f"refinery-{prog}-")
    engine = None
    try:
        engine = engines.prepare(_beam_flag(beam_args, "runner"), beam_args, log_dir=os.path.join(work, "engine"),
                                 quiet=True)
        yield (engine.beam_args, engine.facts["parallelism"]) if engine is not None else (beam_args, 1)
    finally:
        if engine is not None:
            engine.close()
        shutil.rmtree(work, ignore_errors=True)


def sketch(inputs: list[str], out_dir: str, cfg, salt: bytes | None, run_id: str,
           beam_args: list[str] | None = None, parallelism: int = 1) -> None:
    """Build and run the sketch pipeline: ReadCrude → DetectLanguage → index rows → SKETCHES/index/.
    ``beam_args``: the pipeline's flags; a portable runner (a started engine's flags) reads in bounded
    bundles for ``parallelism`` workers, as ``refinery run`` does."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from refinery.runtime import single_process
    from refinery.transforms.beam.bundles import bucket_count
    from refinery.transforms.beam.dedup_index import WriteDedupIndex
    from refinery.transforms.beam.ingest import ReadCrude
    from refinery.transforms.beam.language import DetectLanguage
    from refinery.transforms.beam.stage import KEPT
    from refinery.transforms.dedup import lsh_params
    from refinery.transforms.dedup_index import index_params
    from refinery.transforms.inputs import expand_inputs

    d = cfg.dedup
    bands, rows = lsh_params(d.threshold, d.num_perm)
    fn = _SketchRowsFn(cfg, salt)
    options = PipelineOptions(beam_args or [])
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    in_process = single_process(runner, options.get_all_options())
    input_set = expand_inputs(inputs)
    local_bytes = input_set.local_bytes if not input_set.remote_patterns else None
    portable = runner == "PortableRunner"
    buckets = bucket_count(local_bytes, parallelism) if portable else None
    with beam.Pipeline(options=options) as p:
        recs = (p | "ReadCrude" >> ReadCrude(inputs, cfg, spread_records=not in_process, inputs=input_set,
                                             bounded_buckets=buckets))[KEPT]
        if cfg.language.enabled:
            recs = (recs | "DetectLanguage" >> DetectLanguage(cfg, in_process=in_process,
                                                              input_bytes=local_bytes))[KEPT]
        (recs | "Batch" >> beam.BatchElements(min_batch_size=32, max_batch_size=256)
         | "Rows" >> beam.FlatMap(fn.rows)
         | "Write" >> WriteDedupIndex(out_dir, run_id, d.index_shards, index_params(d, bands, rows, salted=bool(salt))))


def cmd_sketch(argv: list[str]) -> int:
    from refinery.pipelines.config import ConfigError, load_config
    from refinery.pipelines.engines import EngineError
    from refinery.pipelines.run import new_run_id
    from refinery.transforms.inputs import InputError, expand_inputs

    parser = argparse.ArgumentParser(
        prog="refinery sketch",
        usage="refinery sketch [CONFIG.yaml] --input PATTERN --output SKETCHES [--salt-file FILE] [--set KEY=VALUE] "
              "[BEAM FLAGS ...]",
        description="Write only the dedup index of the input (no text) to SKETCHES/index/, for `refinery overlap`. "
                    "Beam's flags pass through (--runner FlinkRunner --parallelism 2).")
    parser.add_argument("--input", "-i", action="append", required=True, metavar="PATTERN")
    parser.add_argument("--output", "-o", required=True, metavar="SKETCHES")
    parser.add_argument("--salt-file", metavar="FILE",
                        help="secret shared by the two owners: content hashes become HMAC-SHA256(salt, text key), "
                             "so a guessed short text cannot be confirmed from the index by anyone else")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    # A YAML path is the config (its ingest, language and dedup sections apply); anything unknown is Beam's
    # (a positional config would take the value of `--runner FlinkRunner`).
    takes_value = {"--input", "-i", "--output", "-o", "--salt-file", "--set"}
    config = next((t for i, t in enumerate(argv) if t.lower().endswith((".yaml", ".yml")) and not t.startswith("-")
                   and (i == 0 or argv[i - 1] not in takes_value)), None)
    args, beam_args = parser.parse_known_args([t for t in argv if t is not config])
    check_beam_args(parser, beam_args)
    try:
        cfg = load_config(config, args.overrides)
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
    try:
        expand_inputs(inputs)  # a pattern that matches nothing fails here, before an engine starts
        with engine_for_command(beam_args, "sketch") as (flags, parallelism):
            sketch(inputs, args.output, cfg, salt, new_run_id(), flags, parallelism)
    except (InputError, EngineError) as exc:
        print(f"refinery sketch: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1
    os.makedirs(os.path.join(args.output, INDEX_DIR), exist_ok=True)  # no documents: an empty index
    n = sum(pq.ParquetFile(os.path.join(args.output, INDEX_DIR, f)).metadata.num_rows
            for f in os.listdir(os.path.join(args.output, INDEX_DIR)) if f.endswith(".parquet"))
    print(f"refinery sketch: {n} documents sketched to {args.output}/{INDEX_DIR}/ (no text)", file=sys.stderr)
    return 0


# --- overlap ---------------------------------------------------------------------------------------

PAIRS_DIR = "pairs"
PAIRS_SCHEMA = pa.schema([pa.field("a", pa.string(), nullable=False), pa.field("b", pa.string(), nullable=False),
                          pa.field("jaccard_estimate", pa.float64(), nullable=False)])


class OverlapError(ValueError):
    """Sketch folders that cannot be compared (missing, or made with other dedup parameters)."""


def sketch_files(folder: str) -> tuple[list[str], dict[bytes, bytes]]:
    """The index files of a sketch (or output) folder and the footer metadata of its first file."""
    from refinery.transforms.beam.dedup_index import index_files

    try:
        files = index_files(folder)
    except FileNotFoundError as exc:
        raise OverlapError(str(exc)) from None
    if not files:
        return [], {}
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(files[0]) as fh:
        return files, pq.ParquetFile(fh).schema_arrow.metadata or {}


def _histogram_bin(est: float) -> str:
    lo = min(0.95, np.floor(est * 20) / 20)
    return f"{lo:.2f}-{lo + 0.05:.2f}"


def _matched(element):
    """(a doc_id, {'lang': [lang], 'best': [(-estimate, b doc_id)]}) → (a, lang, b, estimate)."""
    a_id, g = element
    best, lang = list(g["best"]), list(g["lang"])
    if best and lang:
        neg_est, b_id = best[0]
        yield a_id, lang[0], b_id, -neg_est


def _match_stats(m):
    _a, lang, _b, est = m
    yield ("a_with_near_duplicate_in_b", ""), 1
    yield ("with_near_duplicate_in_b", lang), 1
    yield ("histogram", _histogram_bin(est)), 1


def _exact_stats(element):
    """(content hash, {'a': [1, ...], 'b': [1, ...]}) → counts of A's exact copies in B."""
    _hash, g = element
    na, nb = sum(g["a"]), sum(g["b"])
    if na and nb:
        yield ("a_exact_in_b", ""), na
        yield ("distinct_exact_shared", ""), 1


class _WritePairsFn:
    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def __call__(self, element):
        from refinery.atomic import write_atomic

        (shard, n), rows = element
        table = pa.Table.from_pylist(sorted(rows, key=lambda r: r["a"]), schema=PAIRS_SCHEMA)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        write_atomic(os.path.join(self.out_dir, PAIRS_DIR, f"part-{shard:05d}-of-{n:05d}.parquet"), buf.getvalue())


def _write_stats(stats, path: str) -> None:
    from refinery.atomic import write_atomic

    write_atomic(path, json.dumps(sorted([list(k), v] for k, v in stats)).encode())


def run_overlap(files_a: list[str], files_b: list[str], threshold: float, bands: int, rows: int,
                b_meta: dict[bytes, bytes], same_salt: bool, stats_path: str, output: str | None,
                beam_args: list[str]) -> None:
    """The overlap pipeline. Every step is keyed (band buckets, then signatures per candidate pair, then
    the best match per A document), so no process holds either sketch set. Writes the counts to
    ``stats_path``; with ``output``, B's matched index rows to ``OUTPUT/index/`` and the pairs to
    ``OUTPUT/pairs/``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from refinery.transforms.beam.dedup_index import (
        NearPriors,
        WriteDedupIndex,
        index_file_count,
        index_shard_of,
        read_prior_index,
    )

    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        a = read_prior_index(p, files_a, "ReadA")
        b = read_prior_index(p, files_b, "ReadB")
        near = (a | "ASigs" >> beam.Map(lambda r: (r["doc_id"], np.asarray(r["signature"], np.uint32).tobytes()))
                | "Near" >> NearPriors(b, threshold, bands, rows))  # (a, (b, run, estimate)) per candidate
        best = (near | "Rank" >> beam.MapTuple(lambda a_id, m: (a_id, (-m[2], m[0])))
                | "Best" >> beam.CombinePerKey(min))  # highest estimate, then smallest b doc_id
        langs = a | "ALang" >> beam.Map(lambda r: (r["doc_id"], str(r["lang"])))
        matched = ({"lang": langs, "best": best} | "JoinLang" >> beam.CoGroupByKey()
                   | "Matched" >> beam.FlatMap(_matched))
        counts = [a | "CountA" >> beam.Map(lambda _r: (("documents_a", ""), 1)),
                  b | "CountB" >> beam.Map(lambda _r: (("documents_b", ""), 1)),
                  langs | "CountLang" >> beam.Map(lambda kv: (("documents", kv[1]), 1)),
                  matched | "MatchStats" >> beam.FlatMap(_match_stats)]
        if same_salt:
            counts.append({"a": a | "AHash" >> beam.Map(lambda r: (r["content_hash"], 1)),
                           "b": b | "BHash" >> beam.Map(lambda r: (r["content_hash"], 1))}
                          | "JoinHashes" >> beam.CoGroupByKey() | "ExactStats" >> beam.FlatMap(_exact_stats))
        (counts | "AllCounts" >> beam.Flatten() | "Sum" >> beam.CombinePerKey(sum)
         | "Gather" >> beam.combiners.ToList() | "WriteStats" >> beam.Map(_write_stats, stats_path))
        if output:
            pairs = matched | "Pairs" >> beam.Map(lambda m: {"a": m[0], "b": m[2], "jaccard_estimate": m[3]})
            n = beam.pvalue.AsSingleton(pairs | "CountPairs" >> beam.combiners.Count.Globally()
                                        | "PairFiles" >> beam.Map(index_file_count, 1))
            (pairs | "KeyPairs" >> beam.Map(lambda r, n: ((index_shard_of(r["a"], n), n), r), n)
             | "GroupPairs" >> beam.GroupByKey() | "WritePairs" >> beam.Map(_WritePairsFn(output)))
            hit_rows = ({"row": b | "BById" >> beam.Map(lambda r: (r["doc_id"], r)),
                         "hit": matched | "HitB" >> beam.Map(lambda m: (m[2], None))}
                        | "JoinHits" >> beam.CoGroupByKey()
                        | "HitRows" >> beam.FlatMap(lambda kv: list(kv[1]["row"])[:1] if list(kv[1]["hit"]) else []))
            meta = {k.decode(): v.decode() for k, v in b_meta.items() if k.startswith(b"refinery.")}
            hit_rows | "WriteDecisions" >> WriteDedupIndex(output, None, 1, meta)


def overlap_report(stats: list, same_salt: bool) -> dict:
    """The pipeline's counts → the report printed and written to overlap.json."""
    c: dict[str, dict[str, int]] = {}
    for (kind, key), v in stats:
        c.setdefault(kind, {})[key] = v
    one = lambda kind: c.get(kind, {}).get("", 0)  # noqa: E731
    per_lang = {lang: {"documents": c.get("documents", {}).get(lang, 0), "with_near_duplicate_in_b": n}
                for lang, n in sorted(c.get("with_near_duplicate_in_b", {}).items())}
    return {
        "documents_a": one("documents_a"), "documents_b": one("documents_b"),
        "a_with_near_duplicate_in_b": one("a_with_near_duplicate_in_b"),
        "a_exact_in_b": one("a_exact_in_b") if same_salt else None,
        "distinct_exact_shared": one("distinct_exact_shared") if same_salt else None,
        "jaccard_estimate_histogram": dict(sorted(c.get("histogram", {}).items())),
        "per_language_a": per_lang,
    }


def _parse_overlap(argv: list[str]):
    parser = argparse.ArgumentParser(
        prog="refinery overlap",
        usage="refinery overlap SKETCHES_A SKETCHES_B [--output DECISIONS] [--threshold T] [BEAM FLAGS ...]",
        description="Which documents of A have near duplicates in B, from two `refinery sketch` folders (or two "
                    "refinery output folders: their index/). A Beam pipeline: every step is keyed, no process "
                    "holds a sketch set; Beam's flags pass through (--runner FlinkRunner --parallelism 2).")
    parser.add_argument("sketches_a")
    parser.add_argument("sketches_b")
    parser.add_argument("--threshold", type=float, default=0.8, help="MinHash-estimated Jaccard (default 0.8)")
    parser.add_argument("--output", "-o", metavar="DECISIONS",
                        help="a new folder: DECISIONS/index/ (B's matched rows), DECISIONS/pairs/ (a, b, "
                             "jaccard_estimate; Parquet) and DECISIONS/overlap.json (the report); owner A applies "
                             "it with `refinery run --dedup-against DECISIONS`")
    args, beam_args = parser.parse_known_args(argv)
    check_beam_args(parser, beam_args)
    if not 0.0 < args.threshold <= 1.0:
        parser.error(f"--threshold {args.threshold}: give a Jaccard estimate in (0, 1]")
    return args, beam_args


def cmd_overlap(argv: list[str]) -> int:
    from refinery.atomic import write_atomic  # imports Beam's filesystems: not for `refinery --help`
    from refinery.pipelines.engines import EngineError
    from refinery.transforms.dedup_index import COMPAT_KEYS

    args, beam_args = _parse_overlap(argv)
    try:
        files_a, a_meta = sketch_files(args.sketches_a)
        files_b, b_meta = sketch_files(args.sketches_b)
    except (OSError, OverlapError, pa.ArrowInvalid) as exc:
        print(f"refinery overlap: {exc}", file=sys.stderr)
        return 2
    keys = [f"refinery.dedup.{k}".encode() for k in (*COMPAT_KEYS, "bands", "rows")]
    diff = [k.decode() for k in keys if files_a and files_b and a_meta.get(k) != b_meta.get(k)]
    if diff:
        print(f"refinery overlap: the sketches were made with other dedup parameters: {', '.join(diff)}",
              file=sys.stderr)
        return 2
    if args.output and os.path.exists(args.output) and os.listdir(args.output):
        print(f"refinery overlap: --output {args.output} is not empty: choose a new folder", file=sys.stderr)
        return 2
    meta = a_meta or b_meta
    bands, rows = int(meta.get(b"refinery.dedup.bands", b"0")), int(meta.get(b"refinery.dedup.rows", b"0"))
    same_salt = a_meta.get(b"refinery.dedup.salted") == b_meta.get(b"refinery.dedup.salted")
    work = tempfile.mkdtemp(prefix="refinery-overlap-stats-")
    stats_path = os.path.join(work, "stats.json")
    try:
        with engine_for_command(beam_args, "overlap") as (flags, _parallelism):
            run_overlap(files_a, files_b, args.threshold, bands, rows, b_meta, same_salt, stats_path,
                        os.path.abspath(args.output) if args.output else None, flags)
        with open(stats_path, encoding="utf-8") as f:
            report = overlap_report([((k[0], k[1]), v) for k, v in json.load(f)], same_salt)
    except EngineError as exc:
        print(f"refinery overlap: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=1, sort_keys=True))
    if args.output:
        os.makedirs(os.path.join(args.output, INDEX_DIR), exist_ok=True)  # an empty decision set is one too
        os.makedirs(os.path.join(args.output, PAIRS_DIR), exist_ok=True)
        write_atomic(os.path.join(args.output, "overlap.json"),
                     json.dumps({**report, "pairs": f"{PAIRS_DIR}/"}, indent=1, sort_keys=True).encode())
    return 0


COMMANDS = {
    "sketch": (cmd_sketch, "write only the dedup index of an input (no text), for `overlap`"),
    "overlap": (cmd_overlap, "which documents of A have near duplicates in B, from two sketches"),
}
