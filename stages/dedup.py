"""Stage ``dedup``: exact and near-duplicate removal (``DedupNearDuplicates``).

Annotate: content_hash and the dup_* cluster columns. Decide: every record but one per cluster is
rejected, ``exact_duplicate`` or ``near_duplicate``, naming the kept record (``dup_of``). A barrier:
every record is held until its cluster is known. Pure core: :mod:`refinery.transforms.dedup`; the
distributed graph: :mod:`refinery.transforms.beam.dedup`.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field

from refinery.stages.spec import BuildContext, Check, Column, Reason, Section, StageSpec


class DedupConfig(Section):
    """Exact and near-duplicate removal (DedupNearDuplicates). Near duplicate: Jaccard >= threshold on the
    shingle sets (word 5-grams; character 5-grams for CJK/Thai), the common definition."""

    enabled: bool = Field(True, description="Remove exact and near duplicates.")
    exact: bool = Field(True,
        description="Remove exact duplicates (hash of NFKC, case-folded, whitespace-collapsed text).")
    near: bool = Field(True, description="Remove near duplicates (MinHash-LSH, verified).")
    threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="Near duplicate: estimated Jaccard of the shingle sets at or above this."
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    seed: int = Field(1, ge=0, le=2**32 - 1, description="MinHash seed (datasketch-compatible, 0..2^32-1).")
    ngram: int = Field(5, ge=1, le=32, description="Shingle size (words or characters, see unit).")
    unit: Literal["auto", "word", "char"] = Field(
        "auto", description="Shingle unit. auto: characters for CJK/Thai text, words otherwise."
    )
    fold_chinese_variants: bool = Field(
        True, description="Fold Traditional to Simplified in the dedup key, so the same text in both scripts matches."
    )
    max_rounds: int = Field(
        12, ge=1, le=64,
        description="Rounds of large-star/small-star connected components (unrolled in the job graph). "
        "Each round at least halves chain lengths in practice; the run counts cc_not_converged if more were needed.",
    )
    chain_rounds: int = Field(
        6, ge=1, le=64,
        description="Rounds of the chain-safe decision inside a duplicate cluster (unrolled in the job graph): "
        "each round keeps the best-ranked undecided member and removes the undecided members whose exact "
        "Jaccard to it is >= threshold; members still undecided after the last round are kept (counter "
        "chain_unresolved). A record is never removed as a near duplicate of a record it does not resemble.",
    )
    cluster_step: Literal["auto", "local", "distributed"] = Field(
        "auto",
        description="Where duplicate clusters are formed and decided. distributed: max_rounds and chain_rounds "
        "unrolled into the job graph (no worker holds more than one cluster's members). local: the verified "
        "edges in one element (union-find) and each cluster with its shingle sets in one group: far fewer "
        "steps, for a runner that holds everything in one process anyway. auto: local on the in-process "
        "DirectRunner, distributed elsewhere. Decisions are the same either way.",
    )
    against: list[str] = Field(
        default_factory=list,
        description="Earlier output folders (refinery run --dedup-against PREV_OUT): a record that duplicates a "
        "record of their index/ is rejected naming it; their text is never read, they are never changed.",
    )
    index_shards: int = Field(4, ge=1, le=65536,
                              description="Files of OUT/index/ (the dedup index of the refined records) at least; more "
                              "where a file would hold over 50,000 rows.")
    band_shards: int = Field(
        64, ge=1, le=65536,
        description="LSH buckets are grouped by (band, digest mod band_shards): each group holds "
        "documents x bands / (bands x band_shards) entries (1M documents: ~16k). Raise it for corpora "
        "far beyond 100M documents; results do not depend on it.",
    )
    keep: Literal["quality_longest", "longest", "smallest_id"] = Field(
        "quality_longest",
        description="Which record of a cluster is kept: quality_longest = highest quality_score (written by "
        "the quality stage: mean credit over the quality rules, see the schema), then longest, then smallest doc_id.",
    )


COLUMNS = (
    Column("content_hash", pa.string(),
           "sha256 (hex, 32 chars) of the normalised text (NFKC, case-folded, whitespace collapsed)."),
    Column("dup_cluster_id", pa.string(),
           "doc_id of the best-ranked (kept) record of the duplicate cluster (connected component)."),
    Column("dup_cluster_size", pa.int32(), "Number of records in the cluster (1 = unique)."),
    Column("dup_of", pa.string(),
           "On removed duplicates: doc_id of the kept record it duplicates (exact Jaccard >= dedup.threshold), or "
           "of an earlier run's record (--dedup-against: reject_detail names the run)."),
    Column("dup_jaccard", pa.float32(),
           "Jaccard similarity of the shingle sets to the dup_of record: exact within the run, MinHash estimate "
           "against an earlier run."),
)

EXACT_DUPLICATE = Reason("exact_duplicate", "the same normalised text as the cluster's kept record")
NEAR_DUPLICATE = Reason("near_duplicate", "Jaccard of the shingle sets >= dedup.threshold to the kept record")


def checks(cfg) -> list[Check]:
    out = [Check("dup_jaccard_range", "critical", "dup_jaccard within [0, 1]", "aggregates", "between",
                 "dup_jaccard_max", {"min_value": 0, "max_value": 1})]
    if cfg.dedup.enabled and cfg.dedup.exact:
        out.append(Check("content_hash_unique", "critical", "no two refined records share a content hash",
                         "aggregates", "between", "duplicate_content_hash_refined", {"min_value": 0, "max_value": 0}))
    return out


def explain(r: dict) -> list[str]:
    return [f"dedup:    cluster={r.get('dup_cluster_id')} size={r.get('dup_cluster_size')} "
            f"dup_of={r.get('dup_of')} jaccard={r.get('dup_jaccard')}"]


def transform(cfg, ctx: BuildContext):
    from refinery.transforms.beam.dedup import DedupNearDuplicates  # Beam stays out of the schemas' imports

    step = cfg.dedup.cluster_step
    return DedupNearDuplicates(cfg, local_clusters=step == "local" or (step == "auto" and ctx.in_process),
                               bounded_buckets=ctx.bounded_buckets, staging=ctx.staging)


def write_extra(outputs: dict, out_dir: str, cfg, identity: dict) -> None:
    """The dedup index of the refined records (``outputs["index"]``) → ``OUT/index/`` (outlives the run)."""
    from refinery.transforms.beam.dedup_index import write_index

    write_index(outputs["index"], out_dir, cfg, identity["run_id"])


SPEC = StageSpec(
    name="dedup",
    role="records",
    summary="exact hash, then MinHash-LSH verified on exact Jaccard; distributed components",
    section="dedup",
    config=DedupConfig,
    columns=COLUMNS,
    reasons=(EXACT_DUPLICATE, NEAR_DUPLICATE),
    label="DedupNearDuplicates",
    transform=transform,
    write_extra=write_extra,
    barrier=True,
    explain=explain,
    checks=checks,
)
