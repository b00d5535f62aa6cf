"""The expectation suite, built from ``schemas/`` and the run config, evaluated with Great Expectations.

Each :class:`Check` has a severity: ``critical`` fails the run (exit 1), ``warning`` is reported. GE
evaluates two kinds of evidence (see :mod:`refinery.validators.aggregates`), never the dataset:

- ``aggregates`` — one row of exact, whole-dataset numbers computed by combiners in the pipeline (or by
  ``refinery validate`` streaming over the files): row counts, null and duplicate ids, empty texts,
  denied licences in refined/, score ranges, shares per language and per stage.
- ``sample`` — the bounded bottom-k sample of refined/ and rejected/ rows: per-row checks of columns,
  value sets (reject reasons, languages, licence decisions) and value ranges.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

from refinery.schemas import REFINED_SCHEMA, REJECTED_SCHEMA, RejectReason, Stage
from refinery.stages import STAGES
from refinery.stages.language import BCP47_RE  # noqa: F401 - public name, kept where it was

_EXPECT = {"between": "ExpectColumnValuesToBeBetween", "in_set": "ExpectColumnValuesToBeInSet",
           "regex": "ExpectColumnValuesToMatchRegex"}


@dataclasses.dataclass
class Check:
    id: str
    severity: str  # critical | warning
    description: str
    target: str  # aggregates | refined_sample | rejected_sample
    expectation: Any  # a great_expectations expectation
    observed: Any = None
    success: bool | None = None


def aggregate_row(agg: dict, manifest: dict) -> dict:
    """The one-row table GE checks whole-dataset expectations on."""
    ref, rej = agg["refined"], agg["rejected"]
    totals = manifest.get("totals", {})
    n_in = max(1, totals.get("records") or (ref["rows"] + rej["rows"] + agg.get("errors_rows", 0)))
    row = {
        "refined_rows": ref["rows"],
        "refined_null_doc_id": ref["null_doc_id"],
        "refined_empty_text": ref["empty_text"],
        "duplicate_doc_ids": agg["duplicate_doc_ids"],
        "duplicate_content_hash_refined": agg["duplicate_content_hash"],
        "refined_licence_denied": ref["licence_decision"].get("deny", 0),
        "rejected_unknown_reasons": sum(v for k, v in rej["reject"].items()
                                        if k.split("/", 1)[1] not in {r.value for r in RejectReason}),
        "reconciliation_bad_files": sum(1 for f in manifest.get("reconciliation", {}).get("files", []) if not f["ok"]),
        "und_share": ref["lang"].get("und", 0) / max(1, ref["rows"]),
        "errors_share": agg.get("errors_rows", 0) / n_in,
    }
    for col in ("lang_score", "dup_jaccard"):
        row[f"{col}_min"] = ref["score_min"].get(col, 0.0)
        row[f"{col}_max"] = ref["score_max"].get(col, 0.0)
    for stage in Stage:
        n = sum(v for k, v in rej["reject"].items() if k.split("/", 1)[0] == stage.value)
        row[f"rejected_share_{stage.value}"] = n / n_in
    return row


def build_checks(cfg) -> list[Check]:
    """The suite for this run's config (generated, never written by hand per run)."""
    import great_expectations as gx

    E = gx.expectations
    v = cfg.validation
    checks = [
        Check("refined_columns", "critical", "refined/ has exactly the columns of schemas.REFINED_SCHEMA",
              "refined_sample", E.ExpectTableColumnsToMatchSet(column_set=REFINED_SCHEMA.names, exact_match=True)),
        Check("rejected_columns", "critical", "rejected/ has exactly the columns of schemas.REJECTED_SCHEMA",
              "rejected_sample", E.ExpectTableColumnsToMatchSet(column_set=REJECTED_SCHEMA.names, exact_match=True)),
        Check("doc_id_not_null", "critical", "doc_id is never null in refined/", "aggregates",
              E.ExpectColumnValuesToBeBetween(column="refined_null_doc_id", min_value=0, max_value=0)),
        Check("doc_id_unique", "critical", "doc_id is unique across refined/ and rejected/", "aggregates",
              E.ExpectColumnValuesToBeBetween(column="duplicate_doc_ids", min_value=0, max_value=0)),
        Check("text_not_empty", "critical", "text is never empty in refined/", "aggregates",
              E.ExpectColumnValuesToBeBetween(column="refined_empty_text", min_value=0, max_value=0)),
        Check("reject_reason_in_enum", "critical", "every reject_reason is in schemas.RejectReason", "aggregates",
              E.ExpectColumnValuesToBeBetween(column="rejected_unknown_reasons", min_value=0, max_value=0)),
        Check("reject_reason_in_enum_rows", "critical", "sampled rejected rows carry a known reason and stage",
              "rejected_sample", E.ExpectColumnValuesToBeInSet(column="reject_reason",
                                                                value_set=[r.value for r in RejectReason])),
        Check("reconciliation", "critical", "every input file: read = refined + rejected + errors", "aggregates",
              E.ExpectColumnValuesToBeBetween(column="reconciliation_bad_files", min_value=0, max_value=0)),
        Check("errors_share", "warning", f"share of input records in errors/ <= {v.max_error_share}", "aggregates",
              E.ExpectColumnValuesToBeBetween(column="errors_share", min_value=0, max_value=v.max_error_share)),
    ]
    for spec in STAGES:  # each stage's own expectations on its columns
        checks += [Check(c.id, c.severity, c.description, c.target, getattr(E, _EXPECT[c.expect])(column=c.column,
                                                                                                  **c.kwargs))
                   for c in spec.checks(cfg)]
    for spec in STAGES:
        if not spec.reasons:  # a stage that cannot reject
            continue
        limit = v.max_rejected_share.get(spec.name, v.max_rejected_share_default)
        checks.append(Check(f"rejected_share_{spec.name}", "warning",
                            f"share of input records rejected at {spec.name} <= {limit}", "aggregates",
                            E.ExpectColumnValuesToBeBetween(column=f"rejected_share_{spec.name}", min_value=0,
                                                            max_value=limit)))
    known = {c.id for c in checks}
    for cid in v.critical:
        if cid not in known:
            raise ValueError(f"validation.critical: no check named {cid!r} (one of: {', '.join(sorted(known))})")
    for c in checks:
        if c.id in v.critical:
            c.severity = "critical"
    return checks


def _frame(rows: list[dict], columns: list[str]):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def run_suite(cfg, aggregates: dict, manifest: dict, refined_sample: list[dict], rejected_sample: list[dict]) -> dict:
    """Evaluate the suite; returns {success, critical_failures, warnings, checks, ge}."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    checks = build_checks(cfg)
    agg_row = aggregate_row(aggregates, manifest)
    frames = {
        "aggregates": _frame([agg_row], list(agg_row)),
        "refined_sample": _frame(refined_sample, REFINED_SCHEMA.names) if refined_sample else None,
        "rejected_sample": _frame(rejected_sample, REJECTED_SCHEMA.names) if rejected_sample else None,
    }
    import logging

    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars on the user's terminal
    source = ctx.data_sources.add_pandas("refinery")
    ge_results = {}
    for target, df in frames.items():
        mine = [c for c in checks if c.target == target]
        if not mine:
            continue
        if df is None:  # nothing written of that kind: per-row checks hold vacuously
            for c in mine:
                c.success, c.observed = True, "no rows"
            continue
        suite = gx.ExpectationSuite(name=f"refinery-{target}")
        for c in mine:
            c.expectation.meta = {"id": c.id, "severity": c.severity}
            suite.add_expectation(c.expectation)
        batch = source.add_dataframe_asset(target).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": df})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = batch.validate(suite).to_json_dict()
        ge_results[target] = res
        by_id = {r["expectation_config"]["meta"]["id"]: r for r in res["results"]}
        for c in mine:
            r = by_id[c.id]
            c.success = bool(r["success"])
            result = r.get("result") or {}
            if target == "aggregates":
                c.observed = agg_row[r["expectation_config"]["kwargs"]["column"]]
            elif "observed_value" in result:
                c.observed = result["observed_value"]
            else:
                c.observed = {"unexpected_count": result.get("unexpected_count"),
                              "unexpected_examples": (result.get("partial_unexpected_list") or [])[:5]}
    critical = [c.id for c in checks if c.severity == "critical" and not c.success]
    warn = [c.id for c in checks if c.severity == "warning" and not c.success]
    return {
        "success": not critical,
        "critical_failures": critical,
        "warnings": warn,
        "aggregates_row": agg_row,
        "checks": [{"id": c.id, "severity": c.severity, "description": c.description, "target": c.target,
                    "success": c.success, "observed": c.observed,
                    "expectation": c.expectation.expectation_type if hasattr(c.expectation, "expectation_type")
                    else type(c.expectation).__name__} for c in checks],
        "ge": ge_results,
    }
