"""``refinery sample``: a deterministic stratified sample of a release's refined records, for annotation.

What goes in: a finished output folder (``refined/``), the strata (``--by``: any of ``lang``,
``source``, ``source_file``, ``quality_band`` or a scalar column of the refined schema such as
``licence_category``), the sample size, a seed and an allocation. What comes out, in a new folder:

- ``sample.parquet``: the selected records with every refined column (``lang`` included), plus
  ``source``, ``quality_band``, ``stratum`` (``lang=en|licence_category=permissive``), ``sample_key``
  (the selection hash) and ``sample_weight`` (records in the release's stratum per sampled record:
  the inverse inclusion probability, so that estimates from labels can be weighted back to the release);
- ``manifest.json``: the release's run id and config hash, the seed, the allocation, and per stratum
  its size in the release and in the sample, with both shares.

How it selects, without loading the release into one process (three passes over the files, each
reading only what it needs, one record batch at a time):

1. count the records of every stratum (only the stratum columns are read);
2. allocate the sample size to strata (:func:`allocate`) and keep, per stratum, the records with the
   smallest ``sample_key`` = blake2b(seed, doc_id) — a bounded heap per stratum, holding the sample's
   ids and positions only. A record's key depends on nothing but the seed and its doc_id, so the same
   release and seed give the same sample whatever the file layout, and a record sampled from one
   release is sampled from the next one too if its stratum's quota allows;
3. read, file by file, only the row groups that hold selected records, stage them in a local spill
   file, and write the sample from it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import heapq
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

import refinery
from refinery.pipelines.release import (
    NULL_VALUE,
    QUALITY_BAND_COLUMNS,
    QUALITY_BAND_CUTS,
    QUALITY_BAND_SIGNALS,
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
    write_spill,
)
from refinery.schemas import REFINED_SCHEMA

ALLOCATIONS = ("proportional", "equal")
STRATA_BATCH_ROWS = 8192  # rows whose stratum keys and doc_ids are held as Python values at once
DERIVED_STRATA = {
    "lang": "the record's language (the refined/ partition)",
    "source": "the input dataset: base name of source_uri without extensions and shard number",
    "source_file": "the exact input file (source_uri)",
    "quality_band": "high / medium / low from the stored quality signals",
}
_NOT_STRATA = {"doc_id", "text", "meta", "source_line", "original_id", "content_hash", "dup_cluster_id",
               "dup_of", "source_sha256"}

SAMPLE_EXTRA = [
    pa.field("source", pa.string(), metadata={"description": DERIVED_STRATA["source"]}),
    pa.field("quality_band", pa.string(), metadata={"description": DERIVED_STRATA["quality_band"]}),
    pa.field("stratum", pa.string(), metadata={"description": "The record's stratum: key=value|key=value."}),
    pa.field("sample_key", pa.string(), metadata={"description": "blake2b(seed, doc_id), hex: smallest first."}),
    pa.field("sample_weight", pa.float64(),
             metadata={"description": "Release records of the stratum per sampled record "
                                      "(1 / inclusion probability)."}),
]
SAMPLE_SCHEMA = pa.schema(list(REFINED_SCHEMA) + SAMPLE_EXTRA)


class SampleError(ValueError):
    """Bad sample request (unknown stratum column, impossible allocation); the message says which."""


@dataclass(frozen=True)
class SampleRequest:
    n: int
    by: tuple[str, ...] = ("lang",)
    seed: int = 0
    allocation: str = "proportional"
    min_per_stratum: int = 1
    # the minimum may move a stratum's share this far (a fraction) from the release's; None: no bound
    max_share_gap: float | None = 0.01


@dataclass
class SampleResult:
    manifest: dict
    path: str
    strata: list[dict] = field(default_factory=list)


def check_strata(by: tuple[str, ...]) -> None:
    """Every ``--by`` name is a derived stratum or a string or boolean refined column (not an id, a hash
    or the text)."""
    scalar = {f.name for f in REFINED_SCHEMA if (pa.types.is_string(f.type) or pa.types.is_boolean(f.type))
              and f.name not in _NOT_STRATA}
    known = sorted(set(DERIVED_STRATA) | scalar)
    for name in by:
        if name not in DERIVED_STRATA and name not in scalar:
            raise SampleError(f"--by {name}: not a stratum; one of {', '.join(known)}")
    if len(set(by)) != len(by):
        raise SampleError(f"--by {','.join(by)}: a name repeats")


def _hamilton(weights: dict[tuple, float], budget: int) -> dict[tuple, int]:
    """``budget`` split in proportion to ``weights`` (largest remainders; ties by stratum key)."""
    total = sum(weights.values())
    if budget <= 0 or total <= 0:
        return {k: 0 for k in weights}
    exact = {k: budget * w / total for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    rest = budget - sum(out.values())
    for k in sorted(weights, key=lambda k: (-(exact[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


def allocate(sizes: dict[tuple, int], n: int, allocation: str = "proportional",
             min_per_stratum: int = 1, max_share_gap: float | None = None) -> dict[tuple, int]:
    """Records to draw from each stratum: ``n`` in all (or every record when the release has fewer).

    ``proportional``: in proportion to the stratum's size (largest remainders), but at least
    ``min_per_stratum`` (or all of a smaller stratum); ``equal``: the same number from every stratum.
    Either way no stratum gives more than it has, and what a small stratum cannot give goes to the
    others in the same proportion.

    A minimum takes its records from the other strata, so it moves every share away from the release's
    (with 240 strata under one record's share, a minimum of 1 takes 12 % of a 2,000-record sample).
    ``max_share_gap`` (a fraction: 0.01 = 1 percentage point) bounds that: the minimum is given to the
    strata below it largest first, as long as no stratum's share of the sample is further than
    ``max_share_gap`` from its share of the release; the rest keep their proportional allocation
    (possibly 0). ``None``: every stratum gets the minimum, and an ``n`` too small for that is an error."""
    if allocation not in ALLOCATIONS:
        raise SampleError(f"--allocation {allocation}: one of {', '.join(ALLOCATIONS)}")
    if n < 1:
        raise SampleError(f"--n {n}: must be at least 1")
    if min_per_stratum < 0:
        raise SampleError(f"--min-per-stratum {min_per_stratum}: must be 0 or more")
    if max_share_gap is not None and max_share_gap < 0:
        raise SampleError(f"--max-share-gap {100 * max_share_gap:g}: must be 0 or more")
    sizes = {k: v for k, v in sizes.items() if v > 0}
    if n >= sum(sizes.values()):
        return dict(sizes)
    if allocation == "equal" or min_per_stratum == 0:
        return _allocate(sizes, n, allocation, {})
    if max_share_gap is None:
        floor_need = sum(min(min_per_stratum, v) for v in sizes.values())
        if floor_need > n:
            raise SampleError(f"--n {n} cannot give each of the {len(sizes)} strata {min_per_stratum} record(s) "
                              f"({floor_need} needed): raise --n, lower --min-per-stratum or use fewer --by "
                              "columns")
        return _allocate(sizes, n, allocation, {k: min(min_per_stratum, v) for k, v in sizes.items()})
    best = _allocate(sizes, n, allocation, {})
    floors: dict[tuple, int] = {}
    while True:  # one stratum more at a time: re-rounding can take a record from a stratum not raised yet
        below = [k for k, q in best.items() if q < min(min_per_stratum, sizes[k])]
        if not below:
            return best
        k = min(below, key=lambda k: (-sizes[k], k))
        floors[k] = min(min_per_stratum, sizes[k])
        if sum(floors.values()) > n:
            return best
        trial = _allocate(sizes, n, allocation, floors)
        if share_gap(sizes, trial) > max_share_gap:
            return best
        best = trial


def share_gap(sizes: dict[tuple, int], quota: dict[tuple, int]) -> float:
    """The largest gap, as a fraction, between a stratum's share of ``quota`` and of ``sizes``."""
    total, drawn = sum(sizes.values()), sum(quota.values())
    if not total or not drawn:
        return 0.0
    return max(abs(quota.get(k, 0) / drawn - v / total) for k, v in sizes.items())


def _allocate(sizes: dict[tuple, int], n: int, allocation: str, floors: dict[tuple, int]) -> dict[tuple, int]:
    """``n`` split over ``sizes`` (all > 0, ``n`` below their sum): proportional or equal, every stratum
    at least its ``floors`` entry, none above its size."""
    fixed: dict[tuple, int] = {}
    free = dict(sizes)
    budget = n
    while free:
        weights = {k: (float(v) if allocation == "proportional" else 1.0) for k, v in free.items()}
        shares = _hamilton(weights, budget)
        adjust = {}
        for k, share in shares.items():
            if share > free[k]:
                adjust[k] = free[k]
            elif share < floors.get(k, 0):
                adjust[k] = floors[k]
        if not adjust:
            fixed.update(shares)
            break
        fixed.update(adjust)
        budget -= sum(adjust.values())
        for k in adjust:
            del free[k]
    return fixed


def sample_key(seed: int, doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=16).digest(), "big")


def _columns_for(by: tuple[str, ...]) -> list[str]:
    cols: list[str] = []
    for name in by:
        if name == "lang":
            continue
        if name in ("source", "source_file"):
            cols.append("source_uri")
        elif name == "quality_band":
            cols.extend(QUALITY_BAND_COLUMNS)
        else:
            cols.append(name)
    return list(dict.fromkeys(cols))


def _label(v) -> str:
    if v is None:
        return NULL_VALUE
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def strata_of(batch: pa.RecordBatch, rf: ReleaseFile, by: tuple[str, ...], cache: dict) -> list[tuple]:
    """The stratum key (one string per ``by`` name) of every row of the batch."""
    n = batch.num_rows
    names = batch.schema.names
    cols = []
    for name in by:
        if name == "lang":  # the partition of a refined/ file; a column in any other Parquet
            if rf.lang is None and "lang" in names:
                cols.append([_label(v) for v in batch.column("lang").to_pylist()])
            else:
                cols.append([_label(rf.lang)] * n)
        elif name == "source":
            cols.append(sources_of(batch.column("source_uri"), cache))
        elif name == "source_file":
            cols.append([_label(u) for u in batch.column("source_uri").to_pylist()])
        elif name == "quality_band":
            q = batch.column("quality") if "quality" in names else None
            cols.append(quality_bands(q, n))
        elif name in names:
            cols.append([_label(v) for v in batch.column(name).to_pylist()])
        else:  # a column this file does not have (stage disabled in an older layout)
            cols.append([NULL_VALUE] * n)
    return list(zip(*cols, strict=True)) if cols else [()] * n


def stratum_text(by: tuple[str, ...], key: tuple) -> str:
    return "|".join(f"{b}={v}" for b, v in zip(by, key, strict=True))


def _stratum_sizes(files: list, want: list[str], req: SampleRequest, cache: dict[str, str]) -> Counter:
    """Pass 1: the rows of each stratum of the release's refined ``files``."""
    sizes: Counter = Counter()
    for rf in files:
        pf = open_parquet(rf.path)
        cols = available(pf, want)
        if not cols:  # strata from the path alone: the footer has the row count
            one_row = pa.RecordBatch.from_pydict({"_": pa.array([0])})  # pyarrow 14: no dict form of record_batch
            sizes[strata_of(one_row, rf, req.by, cache)[0]] += pf.metadata.num_rows
            continue
        for batch in iter_batches(pf, cols, STRATA_BATCH_ROWS):
            sizes.update(strata_of(batch, rf, req.by, cache))
    return sizes


def _choose_rows(files: list, want: list[str], req: SampleRequest, cache: dict[str, str],
                 quota: dict[tuple, int]) -> dict[int, dict[int, tuple[tuple, int]]]:
    """Pass 2: per stratum, the rows of the ``quota`` smallest sample keys (a max-heap of negated keys);
    returns {file index: {row: (stratum, key)}}."""
    heaps: dict[tuple, list] = {k: [] for k, q in quota.items() if q > 0}
    for fi, rf in enumerate(files):
        pf = open_parquet(rf.path)
        cols = ["doc_id"] + available(pf, want)
        row = 0
        for batch in iter_batches(pf, cols, STRATA_BATCH_ROWS):
            keys = strata_of(batch, rf, req.by, cache)
            for i, doc_id in enumerate(batch.column("doc_id").to_pylist()):
                h = heaps.get(keys[i])
                if h is None:
                    continue
                k = sample_key(req.seed, doc_id)
                if len(h) < quota[keys[i]]:
                    heapq.heappush(h, (-k, fi, row + i))
                elif -h[0][0] > k:
                    heapq.heapreplace(h, (-k, fi, row + i))
            row += batch.num_rows
    chosen: dict[int, dict[int, tuple[tuple, int]]] = {}
    for stratum, h in heaps.items():
        for negk, fi, pos in h:
            chosen.setdefault(fi, {})[pos] = (stratum, -negk)
    return chosen


def draw_sample(release: str, req: SampleRequest, output: str, overwrite: bool = False) -> SampleResult:
    """Draw the sample of ``release`` described by ``req`` into the folder ``output``."""
    check_strata(req.by)
    check_folder(output, overwrite, (release,))
    manifest = read_manifest(release)
    if manifest.get("status") != "succeeded":
        raise ReleaseError(f"{release}: the run's status is {manifest.get('status')!r}, not 'succeeded': "
                           "sample a release whose run finished and passed its checks")
    files = release_files(release, ("refined",))
    if not files:
        raise ReleaseError(f"{release}/refined: no Parquet files (an empty release has nothing to sample)")
    want = _columns_for(req.by)
    cache: dict[str, str] = {}

    sizes = _stratum_sizes(files, want, req, cache)  # pass 1
    quota = allocate(dict(sizes), req.n, req.allocation, req.min_per_stratum, req.max_share_gap)
    plain = allocate(dict(sizes), req.n, req.allocation, 0)
    chosen = _choose_rows(files, want, req, cache, quota)  # pass 2

    # pass 3: read the row groups that hold chosen records, stage them in a spill file (rows kept in
    # memory from file after file would pin far more than they hold), then write the sample from it
    out_dir = output
    prepare_folder(out_dir, overwrite, (release,))
    path = os.path.join(out_dir, "sample.parquet")
    weight = {k: sizes[k] / q for k, q in quota.items() if q > 0}
    got: Counter = Counter()
    schema = SAMPLE_SCHEMA.with_metadata({
        "refinery.kind": "sample", "refinery.release_run_id": str(manifest.get("run_id")),
        "refinery.seed": str(req.seed), "refinery.refinery_version": refinery.__version__})

    def picked() -> Iterator[pa.Table]:
        for fi in sorted(chosen):
            rf = files[fi]
            picks = chosen[fi]
            pf = open_parquet(rf.path, ROW_READ_BUFFER_BYTES)
            for rows, positions in iter_rows_at(pf, sorted(picks)):
                meta = [picks[p] for p in positions]
                got.update(m[0] for m in meta)
                yield _sample_table(rows, rf, req, meta, weight, cache, schema)

    with tempfile.TemporaryDirectory(prefix="refinery-sample-") as workdir:
        staged = os.path.join(workdir, "sample.arrow")
        write_spill(staged, schema, picked())
        with BufferedWriter(path, schema) as writer:
            for batch in read_spill(staged):
                writer.write(pa.Table.from_batches([batch], schema=schema))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    total = sum(sizes.values())
    n_sample = sum(got.values())
    strata = []
    for k in sorted(sizes):
        strata.append({
            "stratum": dict(zip(req.by, k, strict=True)),
            "key": stratum_text(req.by, k),
            "release_rows": sizes[k],
            "release_share": round(sizes[k] / total, 6),
            "target_rows": quota.get(k, 0),
            "sample_rows": got.get(k, 0),
            "sample_share": round(got.get(k, 0) / n_sample, 6) if n_sample else 0.0,
            "sample_weight": round(weight[k], 6) if k in weight else None,
            "proportional_rows": plain.get(k, 0),
        })
    floor = {k: min(req.min_per_stratum, v) for k, v in sizes.items()} if req.allocation == "proportional" else {}
    minimum = {
        "min_per_stratum": req.min_per_stratum,
        "max_share_gap_pp": None if req.max_share_gap is None else round(100 * req.max_share_gap, 6),
        "raised_strata": sum(1 for k in sizes if quota.get(k, 0) > plain.get(k, 0)),
        "raised_rows": sum(max(0, quota.get(k, 0) - plain.get(k, 0)) for k in sizes),
        "strata_below_minimum": sum(1 for k in sizes if got.get(k, 0) < floor.get(k, 0)),
        "strata_not_sampled": sum(1 for k in sizes if not got.get(k, 0)),
        "share_gap_pp": round(100 * share_gap(dict(sizes), dict(got)), 6),
        "share_gap_without_minimum_pp": round(100 * share_gap(dict(sizes), plain), 6),
    }
    out_manifest = {
        "kind": "refinery-sample",
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(),
        "refinery_version": refinery.__version__,
        "release": {"path": os.path.abspath(release) if "://" not in release else release,
                    "run_id": manifest.get("run_id"), "config_sha256": manifest.get("config_sha256"),
                    "refinery_version": manifest.get("refinery_version"), "refined_rows": total},
        "seed": req.seed,
        "n_requested": req.n,
        "by": list(req.by),
        "allocation": req.allocation,
        "min_per_stratum": req.min_per_stratum,
        "max_share_gap_pp": minimum["max_share_gap_pp"],
        "minimum": minimum,
        "sample_rows": n_sample,
        "file": {"path": "sample.parquet", "rows": n_sample, "bytes": os.path.getsize(path),
                 "sha256": digest.hexdigest()},
        "definitions": {
            **{k: v for k, v in DERIVED_STRATA.items() if k in req.by},
            **({"quality_band_signals": [f"{n} ({'higher' if up else 'lower'} is better)"
                                         for n, up in QUALITY_BAND_SIGNALS],
                "quality_band_cuts": {b: c for b, c in QUALITY_BAND_CUTS if c != float("-inf")}}
               if "quality_band" in req.by else {}),
            "sample_key": "blake2b-128 of '<seed>:<doc_id>'; per stratum the smallest keys are drawn",
            "share_gap_pp": "largest |share of the sample - share of the release| over the strata, in "
                            "percentage points",
            "proportional_rows": "the stratum's rows under proportional allocation without a minimum",
        },
        "strata": strata,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(out_manifest, f, indent=2, ensure_ascii=False)
    return SampleResult(manifest=out_manifest, path=path, strata=strata)


def _sample_table(rows: pa.RecordBatch, rf: ReleaseFile, req: SampleRequest, meta: list[tuple[tuple, int]],
                  weight: dict, cache: dict, schema: pa.Schema) -> pa.Table:
    n = rows.num_rows
    names = rows.schema.names
    cols = {}
    for f in schema:
        if f.name in names:
            cols[f.name] = rows.column(f.name)
    if "lang" not in names:
        cols["lang"] = pa.array([rf.lang] * n, pa.string())
    cols["source"] = pa.array(sources_of(rows.column("source_uri"), cache), pa.string())
    cols["quality_band"] = pa.array(quality_bands(rows.column("quality") if "quality" in names else None, n),
                                    pa.string())
    cols["stratum"] = pa.array([stratum_text(req.by, s) for s, _k in meta], pa.string())
    cols["sample_key"] = pa.array([f"{k:032x}" for _s, k in meta], pa.string())
    cols["sample_weight"] = pa.array([weight[s] for s, _k in meta], pa.float64())
    arrays = []
    for f in schema:
        a = cols.get(f.name)
        arrays.append(pa.nulls(n, f.type) if a is None else a.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def format_summary(result: SampleResult) -> str:
    m = result.manifest
    lines = [f"sample of {m['release']['path']} (run {m['release']['run_id']}): {m['sample_rows']:,} of "
             f"{m['release']['refined_rows']:,} refined records, seed {m['seed']}, {m['allocation']} "
             f"by {','.join(m['by'])} (min {m['min_per_stratum']} per stratum)",
             f"largest share gap from the release: {m['minimum']['share_gap_pp']:.2f} pp "
             f"({m['minimum']['share_gap_without_minimum_pp']:.2f} pp without the minimum); minimum given to "
             f"{m['minimum']['raised_strata']:,} strata ({m['minimum']['raised_rows']:,} records), "
             f"{m['minimum']['strata_below_minimum']:,} left below it, {m['minimum']['strata_not_sampled']:,} "
             "not sampled",
             f"{'release':>9} {'share':>7} {'sample':>7} {'share':>7}  stratum"]
    for s in sorted(result.strata, key=lambda s: -s["release_rows"]):
        lines.append(f"{s['release_rows']:>9,} {100 * s['release_share']:>6.2f}% {s['sample_rows']:>7,} "
                     f"{100 * s['sample_share']:>6.2f}%  {s['key']}")
    lines.append(f"\nwrote {result.path} and manifest.json")
    return "\n".join(lines)
