"""``refinery validate DIR``: re-check a finished output (e.g. after a copy to a labelling base).

Integrity first (:func:`refinery.validators.integrity.check_output`: the run is complete, every file
under the folder against the manifest, totals, reconciliation, counters and config hash recomputed,
unique doc_ids), the signature when a key is given (:mod:`refinery.validators.signing`), then the
expectation suite re-evaluated on aggregates and samples recomputed from the files themselves — one
file at a time, streamed one record batch at a time, so memory holds the aggregates, the sample and 8
bytes per id. An incomplete run (status ``running``) or an unreadable config is not evaluated.
"""

from __future__ import annotations

import heapq
import io
import json

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from refinery.atomic import is_refinery_temp
from refinery.schemas.manifest import manifest_problems
from refinery.validators.aggregates import Aggregator, digest, duplicate_count, sample_key
from refinery.validators.integrity import check_output, incomplete_message
from refinery.validators.pipeline import slim


def _files(out_dir: str, kind: str) -> list[str]:
    match = FileSystems.match([FileSystems.join(out_dir, kind, "**")])[0].metadata_list
    return sorted(m.path for m in match if m.path.endswith(".parquet") and not is_refinery_temp(m.path))


def _readable(path: str) -> bool:
    """Whether the file opens as Parquet (an unreadable one is an integrity finding already)."""
    try:
        with FileSystems.open(path) as f:
            pq.ParquetFile(f)
        return True
    except Exception:  # noqa: BLE001
        return False


def recompute(out_dir: str, sample_rows: int) -> dict:
    agg: dict = {"errors_rows": 0}
    ids: list[int] = []
    hashes: list[int] = []
    for kind in ("refined", "rejected"):
        a = Aggregator()
        heap: list = []  # max-heap of the sample_rows smallest keys (negated)
        for path in filter(_readable, _files(out_dir, kind)):
            lang = path.split("lang=", 1)[1].split("/", 1)[0] if "lang=" in path else None
            with FileSystems.open(path) as f:
                pf = pq.ParquetFile(io.BytesIO(f.read()))  # one file at a time (<= output.target_shard_mb)
            for batch in pf.iter_batches(batch_size=2048, use_threads=False):
                for r in batch.to_pylist():
                    if kind == "refined":
                        r["lang"] = lang
                        if r.get("content_hash"):
                            hashes.append(digest(r["content_hash"]))
                    a.add(r)
                    ids.append(digest(r["doc_id"]))
                    k = sample_key(r["doc_id"])
                    if len(heap) < sample_rows:
                        heapq.heappush(heap, (-k, r["doc_id"], slim(r)))
                    elif -heap[0][0] > k:
                        heapq.heapreplace(heap, (-k, r["doc_id"], slim(r)))
        agg[kind] = a.result()
        agg[f"{kind}_sample"] = [row for _k, _id, row in sorted(heap, key=lambda t: -t[0])]
    for path in filter(_readable, _files(out_dir, "errors")):
        with FileSystems.open(path) as f:
            agg["errors_rows"] += pq.read_metadata(f).num_rows
    agg["duplicate_doc_ids"] = duplicate_count(ids)
    agg["duplicate_content_hash"] = duplicate_count(hashes)
    return agg


def validate_output(out_dir: str, verify_key=None) -> tuple[list[str], dict | None]:
    """(integrity problems, suite result or None when the manifest cannot be read, its config does not
    validate, or the run is incomplete). ``verify_key``: a :class:`~refinery.validators.signing.ManifestKey`
    the manifest's signature must verify with."""
    from refinery.pipelines.config import RunConfig
    from refinery.validators.suite import run_suite

    problems = check_output(out_dir)
    if verify_key is not None:
        from refinery.validators.signing import verify_manifest

        problems += verify_manifest(out_dir, verify_key)
    try:
        with FileSystems.open(FileSystems.join(out_dir, "reports", "manifest.json")) as f:
            manifest = json.loads(f.read())
    except Exception:  # noqa: BLE001 - check_output has reported it
        return problems, None
    if isinstance(manifest, dict):  # (check_output has reported anything else)
        problems += manifest_problems(manifest)
    try:
        cfg = RunConfig.model_validate(manifest["config"])
    except Exception:  # noqa: BLE001 - check_output has reported it
        return problems, None
    if incomplete_message(manifest):  # a killed run's partial files are not a dataset to evaluate
        return problems, None
    agg = recompute(out_dir, cfg.validation.sample_rows)
    try:
        result = run_suite(cfg, agg, manifest, agg.pop("refined_sample"), agg.pop("rejected_sample"))
    except Exception as exc:  # noqa: BLE001 - a manifest of the wrong shape: the finding, not a traceback
        return problems + [f"expectation suite could not run on this manifest: {type(exc).__name__}: {exc}"], None
    return problems, result
