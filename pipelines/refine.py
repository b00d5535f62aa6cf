"""The refinery pipeline: an ordered composition of stage PTransforms.

    ReadCrude → the record stages of ``refinery.stages.STAGES`` → WriteOutputs

(today DetectLanguage → TagLicences → ScoreQuality → DedupNearDuplicates). Every stage takes records
and returns ``kept`` / ``rejected`` / ``errors``; the kept records feed the next stage, all rejected and
all errors are written. A disabled stage is skipped (its columns stay null). Bookkeeping (per-file input
facts, written-file facts) goes to ``reports/_run/`` for the driver to build the manifest and the
reconciliation from.
"""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from refinery.atomic import write_atomic
from refinery.stages import BuildContext, record_stages
from refinery.transforms.beam.bundles import bucket_count
from refinery.transforms.beam.ingest import FILES, ReadCrude
from refinery.transforms.beam.stage import ERRORS, KEPT, REJECTED
from refinery.transforms.beam.staging import RestoreRecords, StageRecords
from refinery.transforms.beam.write import WriteOutputs, WriterInputs

RUN_DIR = "reports/_run"


def staging_folder(out_dir: str) -> str:
    """Where a portable run stages its records (:mod:`refinery.transforms.beam.staging`); removed when
    the job ends."""
    return FileSystems.join(out_dir, RUN_DIR, "staging")


def remove_staging(out_dir: str) -> None:
    """Remove the run's staging folder, if it made one (its own files only: nothing a user owns)."""
    folder = staging_folder(out_dir)
    if FileSystems.exists(folder):
        FileSystems.delete([folder])


def stage_transforms(cfg, in_process: bool = False) -> list[tuple[str, beam.PTransform]]:
    """(label, PTransform) for every enabled record stage (``refinery.stages.STAGES``), in pipeline order.
    ``in_process``: the runner executes the whole pipeline in this one process (language identification
    then preloads its models by default, ``language.warm_models``)."""
    ctx = BuildContext(in_process=in_process)
    return [(s.label, s.transform(cfg, ctx)) for s in record_stages() if s.is_enabled(cfg)]


def stages_status(cfg) -> dict[str, str]:
    """For the manifest: 'ran' or 'disabled' per record stage with a config section."""
    return {s.section: "ran" if s.is_enabled(cfg) else "disabled" for s in record_stages()}


class _WriteJson(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, items):
        items = sorted(items, key=lambda d: json.dumps(d, sort_keys=True))
        write_atomic(self.path, json.dumps(items, indent=1, sort_keys=True, ensure_ascii=False).encode())
        yield self.path


def build_pipeline(p: beam.Pipeline, inputs: list[str], out_dir: str, cfg, identity: dict, progress: bool = False,
                   spread_records: bool = True, input_set=None, bounded_bundles: bool = False,
                   parallelism: int = 1):
    """Attach the whole refinery to pipeline ``p``. ``spread_records=False``: no fusion break after the
    read (for a runner that executes everything in one process, where it is pure cost). ``input_set``: the
    local files already matched (:func:`refinery.transforms.inputs.expand_inputs`), else matched here.
    ``bounded_bundles``: a portable runner (Flink, Spark), whose stateless stages run a whole partition
    per bundle: the read and the stages after it run one bucket per bundle
    (:class:`refinery.transforms.beam.bundles.BoundedBundles`) for ``parallelism`` workers."""
    input_bytes = input_set.local_bytes if input_set is not None and not input_set.remote_patterns else None
    buckets = bucket_count(input_bytes, parallelism) if bounded_bundles else None
    # A portable runner: the records leave the stage that makes them through staging files, and only
    # their stubs cross its outputs (refinery.transforms.beam.staging); restored before the write.
    staging = staging_folder(out_dir) if bounded_bundles else None
    crude = p | "ReadCrude" >> ReadCrude(inputs, cfg, progress=progress, spread_records=spread_records,
                                         inputs=input_set, bounded_buckets=buckets)
    rejected = [crude[REJECTED]]
    errors = [crude[ERRORS]]
    records = crude[KEPT]
    sized_by = None
    staged = False  # whether ``records`` are stubs
    ctx = BuildContext(in_process=not spread_records, input_bytes=input_bytes, bounded_buckets=buckets,
                       staging=staging)
    for spec in record_stages():
        if not spec.is_enabled(cfg):
            continue
        if spec.barrier:
            # The refined files are sized on the records entering a barrier stage (a superset of the refined
            # ones, known before the stage ends), so the write keys each refined record where the stage
            # decides it instead of waiting behind a materialised copy of them all.
            sized_by = records
        out = records | spec.label >> spec.transform(cfg, ctx)
        if spec.write_extra is not None:  # outputs beyond kept / rejected / errors (the dedup index)
            spec.write_extra(out, out_dir, cfg, identity)
        records = out[KEPT]
        stage_rejected = out[REJECTED]
        if staging is not None and not spec.barrier:
            stage_rejected = stage_rejected | f"Stage{spec.label}Rejected" >> StageRecords(
                staging, buckets, f"{spec.name}-rejected")
        rejected.append(stage_rejected)
        errors.append(out[ERRORS])
        staged = staged or (staging is not None and spec.barrier)  # a barrier stage given ``staging`` returns stubs
    if staging is not None:
        if not staged:
            sized_by = records if sized_by is None else sized_by
            records = records | "StageRefined" >> StageRecords(staging, buckets, "refined")
        rejected[0] = rejected[0] | "StageIngestRejected" >> StageRecords(staging, buckets, "ingest-rejected")
    all_rejected = rejected | "AllRejected" >> beam.Flatten()
    restored = None
    if staging is not None:  # ``records`` and ``all_rejected`` are stubs; the writer reads the whole records
        restored = {"refined": records, "rejected": all_rejected} | "RestoreRecords" >> RestoreRecords(buckets)
    all_errors = errors | "AllErrors" >> beam.Flatten()
    outputs = WriterInputs(refined=records, rejected=all_rejected, errors=all_errors, files=crude[FILES],
                           refined_sized_by=records if sized_by is None else sized_by, restored=restored)
    run_dir = FileSystems.join(out_dir, RUN_DIR)
    aggregates = FileSystems.join(run_dir, "aggregates.json") if cfg.validation.enabled else None
    written = outputs | "WriteOutputs" >> WriteOutputs(out_dir, cfg, identity, aggregates, cfg.validation.sample_rows)
    (written | "CollectOutputs" >> beam.combiners.ToList()
     | "WriteOutputFacts" >> beam.ParDo(_WriteJson(FileSystems.join(run_dir, "outputs.json"))))
    (crude[FILES] | "CollectInputs" >> beam.combiners.ToList()
     | "WriteInputFacts" >> beam.ParDo(_WriteJson(FileSystems.join(run_dir, "inputs.json"))))
    return p
