"""Beam side of the dedup index: write it (``WriteDedupIndex``), read earlier runs' indexes
(``read_prior_index``) and match a run's exact-group representatives against them (``MatchPriors``).

Everything is keyed: index shards are written per shard key, priors are read file by file, and the
matching joins band buckets, then signatures, per pair — no step holds a corpus's signatures.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from refinery.atomic import write_atomic
from refinery.transforms.beam.dedup_elements import GroupRep, PriorMatch, PriorRecord, rebuild, wire
from refinery.transforms.dedup_index import INDEX_DIR, check_compatible, estimated_jaccard, index_table


def index_files(prev_out: str) -> list[str]:
    """The index files of an earlier output folder (sorted). Raises FileNotFoundError without index/."""
    folder = FileSystems.join(prev_out, INDEX_DIR)
    if not FileSystems.exists(folder) and not FileSystems.exists(prev_out):
        raise FileNotFoundError(f"{prev_out}: no such output folder")
    files = sorted(m.path for m in FileSystems.match([FileSystems.join(folder, "*.parquet")])[0].metadata_list)
    if not files and not FileSystems.exists(folder):
        raise FileNotFoundError(f"{prev_out}: no {INDEX_DIR}/ folder (not a refinery output, or one written "
                                "before the dedup index existed)")
    return files


def check_prior_files(files: list[str], dedup_cfg, bands: int, rows: int, salted: bool = False) -> None:
    """Before the pipeline is built: every prior index file shares this run's dedup parameters."""
    for f in files:
        with FileSystems.open(f) as fh:
            meta = pq.ParquetFile(io.BytesIO(fh.read())).schema_arrow.metadata
        check_compatible(meta, dedup_cfg, bands, rows, salted, f)


def prior_index_files(cfg) -> list[str]:
    """Every index file of ``dedup.against`` (checked: present, same dedup parameters). Raises
    :class:`refinery.transforms.inputs.InputError` with the folder and the reason."""
    from refinery.transforms.dedup import lsh_params
    from refinery.transforms.dedup_index import IndexMismatch
    from refinery.transforms.inputs import InputError

    d = cfg.dedup
    bands, rows = lsh_params(d.threshold, d.num_perm)
    files = []
    for prev in d.against:
        try:
            found = index_files(prev)
            check_prior_files(found, d, bands, rows)
        except (FileNotFoundError, IndexMismatch) as exc:
            raise InputError(f"--dedup-against: {exc}") from None
        files += found
    return files


ROWS_PER_INDEX_FILE = 50_000
"""At most this many rows per index file (~35 MB of Parquet; a writer holds one file's rows)."""


def index_shard_of(doc_id: str, n: int) -> int:
    """The index file (of ``n``) that holds a doc_id's row."""
    return int(doc_id.encode().hex()[:8] or "0", 16) % n


def index_file_count(rows: int, shards: int) -> int:
    """``shards`` files at least, more when a file would hold over :data:`ROWS_PER_INDEX_FILE` rows."""
    return max(shards, math.ceil(rows / ROWS_PER_INDEX_FILE))


class _WriteShardFn(beam.DoFn):
    def __init__(self, out_dir: str, meta: dict[str, str]):
        self.out_dir, self.meta = out_dir, meta

    def process(self, element):
        (shard, n), rows = element
        buf = io.BytesIO()
        pq.write_table(index_table(list(rows), self.meta), buf, compression="zstd", row_group_size=4096)
        path = FileSystems.join(self.out_dir, INDEX_DIR, f"part-{shard:05d}-of-{n:05d}.parquet")
        write_atomic(path, buf.getvalue())
        yield path


class WriteDedupIndex(beam.PTransform):
    """Index rows (dicts of :data:`refinery.transforms.dedup_index.INDEX_SCHEMA`) →
    ``OUT/index/part-*.parquet`` by doc_id, rows sorted by doc_id in each file: ``shards`` files, or
    more where a file would pass :data:`ROWS_PER_INDEX_FILE` rows (the count is made before the
    rows are keyed, so no writer holds more than about that many rows). ``run_id`` is set on every
    row; None keeps the rows' own (rows copied from another index)."""

    def __init__(self, out_dir: str, run_id: str | None, shards: int, meta: dict[str, str]):
        super().__init__()
        self.out_dir, self.run_id, self.shards, self.meta = out_dir, run_id, shards, meta

    def expand(self, rows):
        run_id, shards = self.run_id, self.shards
        n = beam.pvalue.AsSingleton(rows | "CountRows" >> beam.combiners.Count.Globally()
                                    | "Files" >> beam.Map(index_file_count, shards))

        def keyed(r, n):
            return (index_shard_of(r["doc_id"], n), n), (r if run_id is None else dict(r, run_id=run_id))

        return (rows
                | "KeyByFile" >> beam.Map(keyed, n)
                | "ByShard" >> beam.GroupByKey()
                | "WriteShards" >> beam.ParDo(_WriteShardFn(self.out_dir, self.meta)))


class _ReadIndexFileFn(beam.DoFn):
    """An index file → its rows, one row group at a time (a reader never holds a whole file)."""

    def process(self, path) -> Iterable[dict]:
        with FileSystems.open(path) as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=4096):
                yield from batch.to_pylist()


def read_prior_index(pipeline, files: list[str], label: str = "ReadPriorIndex"):
    """Prior index rows, read file by file on the workers."""
    return (pipeline | f"{label}Files" >> beam.Create(files)
            | f"{label}Reshuffle" >> beam.Reshuffle()
            | f"{label}Rows" >> beam.ParDo(_ReadIndexFileFn()))


def _bucket(band: int, digest: int) -> tuple[int, int]:
    """A shuffle key for a band digest: uint64 as signed (Beam's integer coder takes 64-bit signed)."""
    digest = int(digest)
    return band, digest - (1 << 64) if digest >= 1 << 63 else digest


NEW, PRIOR = "new", "prior"  # which side of the match a band entry is from


def prior_band_entries(row):
    """An earlier run's index row → (bucket, (PRIOR, doc_id)) per band."""
    for band, digest in enumerate(row["bands"]):
        yield _bucket(band, digest), (PRIOR, row["doc_id"])


class _NewBandsFn(beam.DoFn):
    """(doc_id, signature) of this run → (bucket, (NEW, doc_id)) per band."""

    def __init__(self, bands: int, rows: int):
        self.bands, self.rows = bands, rows

    def process(self, element) -> Iterable[Any]:
        from refinery.transforms.dedup import band_digests, has_shingles

        doc_id, sig = element
        s = np.frombuffer(sig, dtype=np.uint32)[None, :]
        if not has_shingles(s)[0]:
            return
        for band, digest in enumerate(band_digests(s, self.bands, self.rows)[0].tolist()):
            yield _bucket(band, digest), (NEW, doc_id)


def bucket_pairs(element, limit: int = 64):
    """One LSH bucket → (new, prior) pairs; at most ``limit`` priors per new record per bucket."""
    _key, entries = element
    news, priors = [], []
    for side, doc_id in entries:
        (news if side == NEW else priors).append(doc_id)
    if not news or not priors:
        return
    priors = sorted(set(priors))[:limit]
    for n in sorted(set(news)):
        for p in priors:
            yield n, p


class _EstimateFn(beam.DoFn):
    """(prior, {'new': [(new, new signature)], 'prior': [(signature, run)]}) → (new, :class:`PriorRecord`)
    when the estimated Jaccard is at or above the threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def process(self, element) -> Iterable[Any]:
        prior, g = element
        priors = list(g["prior"])
        if not priors:
            return
        psig, run = priors[0]
        psig = np.asarray(psig, dtype=np.uint32)
        for new, nsig in g["new"]:
            j = estimated_jaccard(np.frombuffer(nsig, dtype=np.uint32), psig)
            if j >= self.threshold:
                yield new, wire(PriorRecord(prior, run, round(j, 4)))


def attach_new_signature(element):
    """(new, {'priors': [prior doc_id], 'signature': [its signature]}) → (prior, (new, signature))."""
    new, g = element
    sigs = list(g["signature"])
    if not sigs:
        return
    for prior in g["priors"]:
        yield prior, (new, sigs[0])


def exact_priors(element):
    """(content hash, {'new': [doc_id], 'prior': [(prior doc_id, run)]}) → (new, :class:`PriorRecord`)."""
    _hash, g = element
    for new in g["new"]:
        for prior_id, run in g["prior"]:
            yield new, wire(PriorRecord(prior_id, run))


def best_prior(element):
    """(rep, {'exact': [PriorRecord], 'near': [PriorRecord]}) → (rep, :class:`PriorMatch`): an exact
    match first, else the near match with the smallest prior doc_id (the earlier release's records rank
    first, in doc_id order among themselves)."""
    rep, g = element
    exact = sorted(g["exact"])
    if exact:
        p = rebuild(PriorRecord, exact[0])
        yield rep, wire(PriorMatch("prior_exact", p.prior_id, p.prior_run, 1.0))
        return
    near = sorted(g["near"])
    if near:
        p = rebuild(PriorRecord, near[0])
        yield rep, wire(PriorMatch("prior_near", p.prior_id, p.prior_run, p.jaccard))


def prior_by_hash(row):
    """An earlier run's index row → (content hash, (doc_id, run_id))."""
    return row["content_hash"], (row["doc_id"], row["run_id"])


def rep_by_exact_key(kv):
    """(doc_id, GroupRep) → (its content hash, doc_id)."""
    return rebuild(GroupRep, kv[1]).exact_key, kv[0]


def rep_signature(kv):
    """(doc_id, GroupRep) → (doc_id, its signature)."""
    return kv[0], rebuild(GroupRep, kv[1]).signature


class NearPriors(beam.PTransform):
    """(doc_id, signature bytes) of new records and prior index rows → (new doc_id, :class:`PriorRecord`)
    for every LSH candidate (a shared band digest) whose MinHash-estimated Jaccard is >= threshold.
    Keyed all the way: band buckets, then the new signature per pair, then the prior's."""

    def __init__(self, priors, threshold: float, bands: int, rows: int):
        super().__init__()
        self.priors, self.threshold, self.bands, self.rows = priors, threshold, bands, rows

    def expand(self, new_sigs):
        priors = self.priors
        pairs = (((new_sigs | "NewBands" >> beam.ParDo(_NewBandsFn(self.bands, self.rows))),
                  priors | "PriorBands" >> beam.FlatMap(prior_band_entries))
                 | "AllBandEntries" >> beam.Flatten()
                 | "PriorBuckets" >> beam.GroupByKey()
                 | "PriorPairs" >> beam.FlatMap(bucket_pairs)
                 | "DistinctPriorPairs" >> beam.Distinct())
        near = ({"priors": pairs, "signature": new_sigs} | "JoinNewSig" >> beam.CoGroupByKey()
                | "AttachNewSig" >> beam.FlatMap(attach_new_signature))
        return ({"new": near,
                 "prior": priors | "PriorSigs" >> beam.Map(lambda r: (r["doc_id"], (r["signature"], r["run_id"])))}
                | "JoinPriorSig" >> beam.CoGroupByKey()
                | "Estimate" >> beam.ParDo(_EstimateFn(self.threshold)))


class MatchPriors(beam.PTransform):
    """Exact-group representatives (doc_id, :class:`GroupRep`) and prior index rows → (doc_id,
    :class:`PriorMatch`) for the representatives that duplicate a prior record: same content hash
    (``prior_exact``) or MinHash-estimated Jaccard >= threshold among LSH candidates (``prior_near``)."""

    def __init__(self, priors, threshold: float, bands: int, rows: int, near: bool):
        super().__init__()
        self.priors, self.threshold, self.bands, self.rows, self.near = priors, threshold, bands, rows, near

    def expand(self, reps):
        priors = self.priors
        exact = ({"new": reps | "NewByHash" >> beam.Map(rep_by_exact_key),
                  "prior": priors | "PriorByHash" >> beam.Map(prior_by_hash)}
                 | "JoinHashes" >> beam.CoGroupByKey()
                 | "ExactPrior" >> beam.FlatMap(exact_priors))
        if self.near:
            near = (reps | "NewSigs" >> beam.Map(rep_signature)
                    | "Near" >> NearPriors(priors, self.threshold, self.bands, self.rows))
        else:
            near = reps | "NoNear" >> beam.FlatMap(lambda _kv: [])
        return ({"exact": exact, "near": near} | "JoinPriorMatches" >> beam.CoGroupByKey()
                | "BestPrior" >> beam.FlatMap(best_prior))


def write_index(rows, out_dir: str, cfg, run_id: str):
    """Write the index rows of a run to ``OUT/index/`` with the dedup parameters in every footer."""
    from refinery.transforms.dedup import lsh_params
    from refinery.transforms.dedup_index import index_params

    d = cfg.dedup
    bands, rows_per_band = lsh_params(d.threshold, d.num_perm)
    return rows | "WriteDedupIndex" >> WriteDedupIndex(out_dir, run_id, d.index_shards,
                                                       index_params(d, bands, rows_per_band))
