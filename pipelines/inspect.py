"""``refinery inspect`` and ``refinery explain``: read a finished output folder."""

from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow as pa
import pyarrow.dataset as ds

from refinery.arrow_io import dataset_table, hive_partitioning
from refinery.pipelines.run import _read_json, summary_table
from refinery.stages import STAGES


def _dataset(out_dir: str, kind: str) -> ds.Dataset | None:
    path = os.path.join(out_dir, kind)
    if not os.path.isdir(path) or not any(f.endswith(".parquet") for _r, _d, fs in os.walk(path) for f in fs):
        return None
    return ds.dataset(path, format="parquet", partitioning=hive_partitioning() if kind == "refined" else None)


def _count_by(dataset: ds.Dataset | None, column: str) -> dict[str, int]:
    if dataset is None or column not in dataset.schema.names:
        return {}
    col = dataset_table(dataset, columns=[column]).column(column)
    return dict(Counter(str(v) for v in col.to_pylist()).most_common())


SNIPPET_CHARS = 160


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A one-line excerpt of ``text`` with every PII kind redacted, cut at ``limit`` characters
    (:func:`refinery.validators.aggregates.excerpt`, as the HTML report's examples)."""
    from refinery.validators.aggregates import excerpt

    return excerpt(text, limit)


def quality_by_language(out_dir: str, top: int = 5, examples: int = 2) -> list[dict]:
    """Per language (refined and rejected together): records, share kept, and the top ``top`` rejection
    reasons (stage/reason), each with its count and ``examples`` PII-redacted snippets (the first rejected
    records of that reason in doc_id order, so the report is the same on every run). Sorted by records,
    most first. Reusable by other reports (the HTML report)."""
    refined, rejected = _dataset(out_dir, "refined"), _dataset(out_dir, "rejected")
    kept = Counter(_count_by(refined, "lang"))
    rows = []
    if rejected is not None:
        cols = [c for c in ("doc_id", "lang", "reject_stage", "reject_reason", "reject_detail", "text")
                if c in rejected.schema.names]
        rows = sorted(dataset_table(rejected, columns=cols).to_pylist(), key=lambda r: str(r.get("doc_id")))
    rej: dict[str, Counter] = {}
    picked: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        lang, why = str(r.get("lang")), f"{r.get('reject_stage')}/{r.get('reject_reason')}"
        rej.setdefault(lang, Counter())[why] += 1
        ex = picked.setdefault((lang, why), [])
        if len(ex) < examples:
            ex.append({"doc_id": r.get("doc_id"), "detail": r.get("reject_detail"),
                       "snippet": snippet(r.get("text") or "")})
    out = []
    for lang in set(kept) | set(rej):
        n_rej = sum(rej.get(lang, Counter()).values())
        total = kept.get(lang, 0) + n_rej
        reasons = [{"reason": why, "count": n, "examples": picked[(lang, why)]}
                   for why, n in sorted(rej.get(lang, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
        out.append({"lang": lang, "records": total, "kept": kept.get(lang, 0),
                    "kept_share": kept.get(lang, 0) / total if total else 0.0, "top_rejections": reasons})
    return sorted(out, key=lambda d: (-d["records"], d["lang"]))


def _quality_lines(per_lang: list[dict]) -> list[str]:
    lines = ["\nquality by language (kept share, top rejection reasons, PII-redacted examples):"]
    for d in per_lang:
        lines.append(f"  {d['lang']:<8} {d['kept']:>8,}/{d['records']:<8,} kept {100 * d['kept_share']:5.1f} %")
        for r in d["top_rejections"]:
            lines.append(f"      {r['count']:>6,}  {r['reason']}")
            for ex in r["examples"]:
                lines.append(f"              {ex['doc_id']}: {ex['snippet']!r}")
    return lines


def inspect_run(out_dir: str, as_json: bool = False) -> str:
    manifest = _read_json(os.path.join(out_dir, "reports", "manifest.json"))
    refined = _dataset(out_dir, "refined")
    rejected = _dataset(out_dir, "rejected")
    info = {
        "run_id": manifest["run_id"],
        "status": manifest["status"],
        "stages": manifest.get("stages"),
        "refined_languages": _count_by(refined, "lang"),
        "refined_licence_categories": _count_by(refined, "licence_category"),
        "rejected_by_stage_reason": {},
        "output_bytes": {k: sum(o["bytes"] for o in manifest.get("outputs", []) if o["kind"] == k)
                         for k in ("refined", "rejected", "errors")},
    }
    if rejected is not None:
        t = dataset_table(rejected, columns=["reject_stage", "reject_reason"]).to_pylist()
        by_reason = Counter(f"{r['reject_stage']}/{r['reject_reason']}" for r in t)
        info["rejected_by_stage_reason"] = dict(by_reason.most_common())
    info["quality_by_language"] = quality_by_language(out_dir)
    if as_json:
        return json.dumps({**info, "manifest": manifest}, indent=2, ensure_ascii=False)
    lines = [summary_table(manifest), ""]
    lines.append("stages: " + ", ".join(f"{k}={v}" for k, v in (manifest.get("stages") or {}).items()))
    lines.append("output sizes: " + ", ".join(f"{k} {v / 1e6:,.2f} MB" for k, v in info["output_bytes"].items()))
    if info["rejected_by_stage_reason"]:
        lines.append("\nrejected by stage/reason:")
        lines += [f"  {n:>8,}  {k}" for k, n in info["rejected_by_stage_reason"].items()]
    if info["refined_languages"]:
        lines.append("\nrefined by language:")
        lines += [f"  {n:>8,}  {k}" for k, n in info["refined_languages"].items()]
    if info["refined_licence_categories"]:
        lines.append("\nrefined by licence category:")
        lines += [f"  {n:>8,}  {k}" for k, n in info["refined_licence_categories"].items()]
    if info["quality_by_language"]:
        lines += _quality_lines(info["quality_by_language"])
    return "\n".join(lines)


def _find(dataset: ds.Dataset | None, doc_id: str) -> list[dict]:
    if dataset is None:
        return []
    names = dataset.schema.names
    flt = None
    for col in ("doc_id", "original_id"):
        if col in names:
            expr = ds.field(col) == pa.scalar(doc_id)
            flt = expr if flt is None else (flt | expr)
    return dataset_table(dataset, filter=flt).to_pylist() if flt is not None else []


def explain_record(out_dir: str, doc_id: str, as_json: bool = False) -> tuple[str, bool]:
    """Text describing the record with this doc_id (or original_id), and whether it was found."""
    hits = []
    for kind in ("refined", "rejected", "errors"):
        for row in _find(_dataset(out_dir, kind), doc_id):
            hits.append((kind, row))
    if not hits:
        return f"no record with doc_id or original_id {doc_id!r} in {out_dir}", False
    if as_json:
        return json.dumps([{"output": k, **{c: (v.hex() if isinstance(v, bytes) else v) for c, v in r.items()}}
                           for k, r in hits], indent=2, ensure_ascii=False, default=str), True
    out = []
    for kind, r in hits:
        out.append(f"== {r.get('doc_id')} in {kind}/")
        out.append(f"source:   {r.get('source_uri')} line/row {r.get('source_line')}")
        if kind != "errors":
            out.append(f"          sha256 {r.get('source_sha256')}  original_id={r.get('original_id')}")
            out.append(f"run:      {r.get('run_id')}  refinery {r.get('refinery_version')}  "
                       f"config {str(r.get('config_sha256'))[:12]}")
            out.append(f"stages:   {' → '.join(r.get('stages') or [])}")
            if kind == "rejected":
                out.append(f"REJECTED at {r['reject_stage']}: {r['reject_reason']} — {r.get('reject_detail')}")
            for spec in STAGES:  # each stage's own lines, in stage order
                out += spec.explain(r)
            if r.get("meta"):
                out.append(f"meta:     {r['meta'][:300]}")
            text = r.get("text") or ""
            out.append(f"text:     {text[:200]!r}{' …' if len(text) > 200 else ''}")
        else:
            out.append(f"ERROR at {r.get('error_stage')}: {r.get('error')}")
            raw = r.get("raw") or b""
            out.append(f"raw:      {raw[:200]!r}")
    return "\n".join(out), True
