"""The refinery pipeline: an ordered composition of stage PTransforms.

    ReadCrude → DetectLanguage → TagLicences → ScoreQuality → DedupNearDuplicates → WriteOutputs

Every stage takes records and returns ``kept`` / ``rejected`` / ``errors``; the kept records feed the
next stage, all rejected and all errors are written. A disabled stage is skipped (its columns stay
null). Bookkeeping (per-file input facts, written-file facts) goes to ``reports/_run/`` for the
driver to build the manifest and the reconciliation from.
"""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from refinery.atomic import write_atomic
from refinery.transforms.beam.ingest import FILES, ReadCrude
from refinery.transforms.beam.stage import ERRORS, KEPT, REJECTED
from refinery.transforms.beam.write import WriteOutputs

RUN_DIR = "reports/_run"


# Stages implemented in this version, in pipeline order: (config section, label, PTransform factory).
# A config section whose stage is not listed here is accepted and documented, and the manifest says
# the stage did not run.
def _implemented_stages():
    from refinery.transforms.beam.dedup import DedupNearDuplicates
    from refinery.transforms.beam.language import DetectLanguage
    from refinery.transforms.beam.licence import TagLicences
    from refinery.transforms.beam.quality import ScoreQuality

    return [
        ("language", "DetectLanguage", DetectLanguage),
        ("licence", "TagLicences", TagLicences),
        ("quality", "ScoreQuality", ScoreQuality),
        ("dedup", "DedupNearDuplicates", DedupNearDuplicates),
    ]


def stage_transforms(cfg, in_process: bool = False) -> list[tuple[str, beam.PTransform]]:
    """(label, PTransform) for every enabled stage, in pipeline order. ``in_process``: the runner executes
    the whole pipeline in this one process (language identification then preloads its models by
    default, ``language.warm_models``)."""
    return [(label, factory(cfg, in_process=in_process) if section == "language" else factory(cfg))
            for section, label, factory in _implemented_stages() if getattr(cfg, section).enabled]


def stages_status(cfg) -> dict[str, str]:
    """For the manifest: 'ran', 'disabled' or 'not implemented' per stage section."""
    implemented = {section for section, _l, _f in _implemented_stages()}
    out = {}
    for section in ("language", "licence", "quality", "dedup"):
        if section not in implemented:
            out[section] = "not implemented"
        else:
            out[section] = "ran" if getattr(cfg, section).enabled else "disabled"
    return out


class _WriteJson(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, items):
        items = sorted(items, key=lambda d: json.dumps(d, sort_keys=True))
        write_atomic(self.path, json.dumps(items, indent=1, sort_keys=True, ensure_ascii=False).encode())
        yield self.path


def build_pipeline(p: beam.Pipeline, inputs: list[str], out_dir: str, cfg, identity: dict, progress: bool = False,
                   spread_records: bool = True, input_set=None):
    """Attach the whole refinery to pipeline ``p``. ``spread_records=False``: no fusion break after the
    read (for a runner that executes everything in one process, where it is pure cost). ``input_set``: the
    local files already matched (:func:`refinery.transforms.inputs.expand_inputs`), else matched here."""
    crude = p | "ReadCrude" >> ReadCrude(inputs, cfg, progress=progress, spread_records=spread_records,
                                         inputs=input_set)
    rejected = [crude[REJECTED]]
    errors = [crude[ERRORS]]
    records = crude[KEPT]
    sized_by = None
    for label, transform in stage_transforms(cfg, in_process=not spread_records):
        if label == "DedupNearDuplicates":
            # The refined files are sized on the records entering dedup (a superset of the refined ones,
            # known before dedup ends), so the write keys each refined record where dedup decides it
            # instead of waiting behind a materialised copy of them all.
            sized_by = records
        out = records | label >> transform
        if "index" in out:  # the dedup index of the refined records: OUT/index/ (outlives the run)
            from refinery.transforms.beam.dedup_index import write_index

            write_index(out["index"], out_dir, cfg, identity["run_id"])
        records = out[KEPT]
        rejected.append(out[REJECTED])
        errors.append(out[ERRORS])
    all_rejected = rejected | "AllRejected" >> beam.Flatten()
    all_errors = errors | "AllErrors" >> beam.Flatten()
    written = ((records, all_rejected, all_errors, crude[FILES]) + ((sized_by,) if sized_by is not None else ())
               | "WriteOutputs" >> WriteOutputs(out_dir, cfg, identity))
    run_dir = FileSystems.join(out_dir, RUN_DIR)
    if cfg.validation.enabled:
        from refinery.validators.pipeline import ComputeAggregates

        ((records, all_rejected, all_errors)
         | "ComputeAggregates" >> ComputeAggregates(FileSystems.join(run_dir, "aggregates.json"),
                                                    cfg.validation.sample_rows))
    (written | "CollectOutputs" >> beam.combiners.ToList()
     | "WriteOutputFacts" >> beam.ParDo(_WriteJson(FileSystems.join(run_dir, "outputs.json"))))
    (crude[FILES] | "CollectInputs" >> beam.combiners.ToList()
     | "WriteInputFacts" >> beam.ParDo(_WriteJson(FileSystems.join(run_dir, "inputs.json"))))
    return p
