"""Auditor-facing reports written into ``reports/`` after a run (or by ``refinery validate``).

- ``validation.json``: the suite result (every check with severity, observed value, success) and
  Great Expectations' own result JSON.
- ``report.html``: one self-contained page — no external CSS, JS, fonts or images; charts are inline
  SVG — with the run's identity, reconciliation per input file, the funnel per stage and reason; per
  rejecting stage its reasons, histograms of its own rejections and two example records per reason
  (PII-redacted excerpts, each with its ``refinery explain`` command); a per-language table (kept
  share, top reasons); languages, licences, duplicate clusters, the quality signals of refined/
  beside the quality stage's own rejections, and every expectation. A test renders it in headless
  Chromium and checks from the net log that it fetches nothing.
- ``datacard.md``: a short data card for consumers.
- ``croissant.json`` (at the output root, next to ``refined/``): a Croissant (MLCommons) JSON-LD
  description of ``refined/``, generated from ``schemas/``.
"""

from __future__ import annotations

import html
import json
import shlex

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from refinery.atomic import write_atomic

# System fonts only (the page loads nothing); the CJK ones come before the generic family so that a
# machine with any of them shows Chinese and Japanese excerpts instead of empty boxes.
_CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#1d2433}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dee9;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}td,th{border:1px solid #e1e5ee;padding:4px 8px;\
text-align:left;
vertical-align:top;font-size:13px}th{background:#f4f6fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.warn{color:#9a6700;font-weight:600}
.muted{color:#667085}.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px}code{font-size:12px}
.ex{font-size:12px;color:#3b4252}svg text{font:12px -apple-system,Segoe UI,Helvetica,Arial,sans-serif;fill:#1d2433}
body,svg text{font-family:-apple-system,"Segoe UI",Helvetica,Arial,"PingFang SC","Hiragino Sans","Microsoft YaHei",
"Noto Sans CJK SC","Noto Sans",sans-serif}
"""


def _e(x) -> str:
    return html.escape(str(x))


def bars_svg(items: list[tuple[str, float]], width: int = 520, color: str = "#4c78a8") -> str:
    """Horizontal bar chart as inline SVG."""
    items = [(str(k), float(v)) for k, v in items]
    if not items:
        return '<p class="muted">nothing to show</p>'
    row, label_w = 20, min(220, 8 + 7 * max(len(k) for k, _ in items))
    top = max(v for _, v in items) or 1.0
    h = row * len(items) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img">']
    for i, (k, v) in enumerate(items):
        y = i * row + 2
        w = (width - label_w - 70) * v / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(k[:40])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row - 6}" fill="{color}"/>')
        shown = f"{v:,.0f}" if v == int(v) else f"{v:.3g}"
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


# Colours that mean what they say: allow green, review amber (a human must decide), deny red.
DECISION_COLOURS = {"allow": "#1a7f37", "review": "#bf8700", "deny": "#cf222e"}


def decision_bars(counts: dict) -> str:
    """Licence decisions, one bar chart per decision so each has its own colour."""
    parts = [bars_svg([(k, v)], color=DECISION_COLOURS.get(k, "#8c959f")) for k, v in _top(counts)]
    return "".join(parts) or '<p class="muted">nothing to show</p>'


def _table(headers: list[str], rows: list[list], num_cols=()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num_cols else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _top(d: dict, n: int = 25) -> list[tuple[str, float]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


# Per rejecting stage, the scores its own rejections are drawn by (the quality stage's: "Quality signals").
_STAGE_SIGNALS = {"language": ("lang_score",), "dedup": ("dup_jaccard",)}
_LANGUAGE_ROWS = 60


def _labels(edges: list[float]) -> list[str]:
    return [f"[{edges[i]:g}, {edges[i + 1]:g})" for i in range(len(edges) - 1)]


def _examples_table(reasons: list[str], rej: dict, out_dir: str) -> str:
    rows = []
    for why in reasons:
        for ex in rej.get("examples", {}).get(why, []):
            cmd = f"refinery explain {shlex.quote(out_dir)} {shlex.quote(str(ex['doc_id']))}"
            rows.append([f"<code>{_e(why.split('/', 1)[-1])}</code>", f"<code>{_e(ex['doc_id'])}</code>",
                         _e(ex.get("lang")), _e(ex.get("detail") or ""), f'<span class="ex">{_e(ex["excerpt"])}</span>',
                         f"<code>{_e(cmd)}</code>"])
    if not rows:
        return ""
    return ("<p>Examples (the two records of smallest sample key per reason; PII redacted, cut short):</p>"
            + _table(["reason", "doc_id", "lang", "detail", "excerpt", "see why"], rows))


def _rejections_html(stages: list[str], rej: dict, out_dir: str) -> str:
    """Per stage that rejected records: its reasons, histograms of its own rejections' scores, and two
    example records per reason with the `refinery explain` command for each."""
    by_stage: dict[str, dict[str, int]] = {}
    for why, n in rej["reject"].items():
        by_stage.setdefault(why.split("/", 1)[0], {})[why] = n
    if not by_stage:
        return "<h2>Rejections by stage</h2><p class=\"muted\">no record was rejected</p>"
    s = ["<h2>Rejections by stage</h2>"]
    edges = rej.get("stage_hist_edges", {})
    for stage in [st for st in stages if st in by_stage] + sorted(set(by_stage) - set(stages)):
        reasons = by_stage[stage]
        s.append(f"<h3>{_e(stage)}: {sum(reasons.values()):,} rejected</h3>")
        s.append(bars_svg([(k.split("/", 1)[-1], v) for k, v in _top(reasons, 30)], color="#e45756"))
        hists = rej.get("stage_hist", {}).get(stage, {})
        charts = [f"<div><p><code>{_e(sig)}</code> of these rejections</p>"
                  + bars_svg(list(zip(_labels(edges[sig]), hists[sig], strict=True)), width=480, color="#e45756")
                  + "</div>" for sig in _STAGE_SIGNALS.get(stage, ()) if sig in hists and sig in edges]
        if charts:
            s.append('<div class="grid">' + "".join(charts) + "</div>")
        if stage == "quality":
            s.append('<p class="muted">The signals of these rejections: "Quality signals" below.</p>')
        s.append(_examples_table([k for k, _v in _top(reasons, 30)], rej, out_dir))
    return "".join(s)


def _languages_html(ref: dict, rej: dict) -> str:
    """One row per language: refined, rejected, the share kept and the top three rejection reasons."""
    by_lang = rej.get("reject_by_lang", {})
    langs = set(ref["lang"]) | set(by_lang) | set(rej["lang"])
    rows = []
    for lang in langs:
        kept, lost = ref["lang"].get(lang, 0), rej["lang"].get(lang, 0)
        top = ", ".join(f"{_e(k)} ({v:,})" for k, v in _top(by_lang.get(lang, {}), 3))
        rows.append((kept + lost, lang, kept, lost, top))
    rows.sort(key=lambda r: (-r[0], r[1]))
    out = _table(["lang", "refined", "rejected", "kept", "top rejection reasons"],
                 [[_e(lang), f"{kept:,}", f"{lost:,}", f"{100 * kept / total:.1f} %" if total else "–", top]
                  for total, lang, kept, lost, top in rows[:_LANGUAGE_ROWS]], num_cols=(1, 2, 3))
    if len(rows) > _LANGUAGE_ROWS:
        out += f'<p class="muted">{len(rows) - _LANGUAGE_ROWS:,} more languages: `refinery inspect`.</p>'
    return out


def _quality_html(ref: dict, rej: dict) -> str:
    """The quality signals of refined/ beside those of the quality stage's own rejections (not dedup's,
    whose duplicates are good text and would swamp them)."""
    own = rej.get("stage_hist", {}).get("quality", {})
    s = ["<h2>Quality signals (refined / rejected by the quality stage)</h2><div class=\"grid\">"]
    for sig, edges in ref.get("hist_edges", {}).items():
        labels = _labels(edges)
        s.append(f"<div><p><code>{_e(sig)}</code></p>"
                 + bars_svg(list(zip(labels, ref["hist"][sig], strict=True)), width=480)
                 + bars_svg(list(zip(labels, own.get(sig, [0] * len(labels)), strict=True)), width=480,
                            color="#e45756") + "</div>")
    s.append("</div>")
    return "".join(s)


def render_html(manifest: dict, aggregates: dict, validation: dict | None, out_dir: str = "OUT") -> str:
    m = manifest
    t = m.get("totals", {})
    ref, rej = aggregates["refined"], aggregates["rejected"]
    status_cls = "ok" if m.get("status") == "succeeded" and (validation or {}).get("success", True) else "bad"
    s = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Refinery run {_e(m['run_id'])}</title>"
         f"<style>{_CSS}</style></head><body>"]
    s.append(f"<h1>Refinery run <code>{_e(m['run_id'])}</code></h1>")
    verdict = "passed" if (validation or {}).get("success", True) else "FAILED"
    s.append(f'<p>Status: <span class="{status_cls}">{_e(m.get("status"))}</span> · validation: '
             f'<span class="{"ok" if verdict == "passed" else "bad"}">{verdict}</span> · '
             f'{t.get("records", 0):,} records read → {t.get("refined", 0):,} refined, '
             f'{t.get("rejected", 0):,} rejected, '
             f'{t.get("errors", 0):,} errors</p>')
    s.append("<h2>Run identity</h2>")
    ident = [["run id", _e(m["run_id"])],
             ["started / finished", f"{_e(m.get('started_at'))} / {_e(m.get('finished_at'))}"],
             ["refinery / schema", f"{_e(m.get('refinery_version'))} / {_e(m.get('schema_version'))}"],
             ["git commit", _e(m.get("git_commit"))],
             ["Apache Beam / runner", f"{_e(m.get('beam_version'))} / {_e(m.get('runner'))}"],
             ["Python", _e(m.get("python_version"))], ["config sha256", f"<code>{_e(m.get('config_sha256'))}</code>"],
             ["wall time", f"{m.get('wall_seconds', 0):,.1f} s"], ["stages", _e(m.get("stages"))]]
    s.append(_table(["", ""], ident))
    s.append("<h3>Inputs</h3>")
    s.append(_table(["file", "format", "bytes", "records", "sha256"],
                    [[_e(i["uri"]), _e(i.get("format")), f"{i.get('bytes') or 0:,}", f"{i['records']:,}",
                      f"<code>{_e(i.get('sha256'))}</code>"] for i in m.get("inputs", [])[:500]], num_cols=(2, 3)))
    s.append("<h2>Reconciliation per input file</h2>")
    rec = m.get("reconciliation", {"files": []})
    s.append(_table(["file", "read", "refined", "rejected", "errors", "ok"],
                    [[_e(f["uri"]), f"{f['records']:,}", f"{f['refined']:,}", f"{f['rejected']:,}", f"{f['errors']:,}",
                      '<span class="ok">ok</span>' if f["ok"] else '<span class="bad">MISMATCH</span>']
                     for f in rec["files"][:500]], num_cols=(1, 2, 3, 4)))
    s.append("<h2>Funnel: records per stage and reason</h2>")
    rows = []
    counters = m.get("counters", {})
    order = [ns for ns in ("ingest", *(m.get("stages") or {}), "write") if ns in counters]
    for ns in order + [ns for ns in counters if ns not in order]:  # pipeline order, then anything else
        c = counters[ns]
        drops = "<br>".join(f"{_e(k.split(':', 1)[1])}: {v:,}" for k, v in c.items() if k.startswith("dropped:"))
        errs = "<br>".join(f"{_e(k.split(':', 1)[1])}: {v:,}" for k, v in c.items() if k.startswith("error:"))
        rows.append([_e(ns), f"{c.get('seen', 0):,}", f"{c.get('kept', 0):,}", drops, errs])
    s.append(_table(["stage", "seen", "kept", "rejected (reason: count)", "errors"], rows, num_cols=(1, 2)))
    s.append(_rejections_html(order, rej, out_dir))
    s.append("<h2>Languages</h2>" + _languages_html(ref, rej))
    s.append('<div class="grid"><div><h2>Languages (refined)</h2>' + bars_svg(_top(ref["lang"])) + "</div>")
    s.append("<div><h2>Licences (refined)</h2><p>categories</p>" + bars_svg(_top(ref["licence_category"]))
             + "<p>decisions</p>" + decision_bars(ref["licence_decision"]) + "</div></div>")
    order = [str(i) for i in range(1, 10)] + ["10+"]
    clusters = [(k, ref["cluster_sizes"].get(k, 0)) for k in order if ref["cluster_sizes"].get(k)]
    s.append("<h2>Duplicate clusters (size of the cluster each kept record stands for)</h2>" + bars_svg(clusters))
    s.append(_quality_html(ref, rej))
    if ref.get("pii"):
        s.append("<h2>PII found (refined, before redaction)</h2>" + bars_svg(_top(ref["pii"])))
    s.append("<h2>Expectations</h2>")
    if validation:
        rows = []
        for c in validation["checks"]:
            cls = "ok" if c["success"] else ("bad" if c["severity"] == "critical" else "warn")
            obs = c["observed"]
            obs = f"{obs:.4g}" if isinstance(obs, float) else obs
            rows.append([f'<span class="{cls}">{"pass" if c["success"] else "FAIL"}</span>', _e(c["severity"]),
                         f"<code>{_e(c['id'])}</code>", _e(c["description"]), _e(c["target"]), _e(obs)])
        s.append(_table(["result", "severity", "id", "expectation", "evaluated on", "observed"], rows))
        s.append('<p class="muted">aggregates: exact whole-dataset numbers computed by combiners in the pipeline; '
                 "samples: a deterministic bottom-k sample (smallest hash of doc_id) of refined/ and rejected/.</p>")
    else:
        s.append('<p class="muted">validation disabled</p>')
    s.append("</body></html>")
    return "".join(s)


def datacard(manifest: dict, aggregates: dict, validation: dict | None) -> str:
    t = manifest.get("totals", {})
    ref = aggregates["refined"]
    langs = ", ".join(f"{k} ({v:,})" for k, v in _top(ref["lang"], 15))
    lic = ", ".join(f"{k} ({v:,})" for k, v in _top(ref["licence_category"], 10))
    dec = ", ".join(f"{k} ({v:,})" for k, v in _top(ref["licence_decision"], 5))
    verdict = ("passed" if (validation or {}).get("success", True)
               else "FAILED: " + ", ".join(validation["critical_failures"]))
    return f"""# Data card: refined dataset of run {manifest['run_id']}

**What.** Text documents refined by Refinery {manifest.get('refinery_version')} from
{len(manifest.get('inputs', []))} input files ({t.get('input_bytes', 0) / 1e6:,.1f} MB): decoded, normalised
(NFC), language-identified, licence-tagged, quality-filtered, PII-redacted and deduplicated.

**How many.** {t.get('refined', 0):,} documents in `refined/` ({ref['text_chars']:,} characters);
{t.get('rejected', 0):,} in `rejected/` with their reasons; {t.get('errors', 0):,} unreadable records in `errors/`.

**Languages.** {langs}.

**Licences.** Categories: {lic}. Decisions: {dec}. Records marked `review` need a human decision before use.

**How produced.** Config sha256 `{manifest.get('config_sha256')}`; Apache Beam {manifest.get('beam_version')}
on {manifest.get('runner')}; every row carries its source file, position, source sha256, run id and config hash.
Validation: {verdict}.
See `reports/report.html` and `reports/manifest.json`.

**Schema.** `refined/` is Parquet, Hive-partitioned by `lang`; columns as documented in the project README.
"""


_CROISSANT_TYPES = {pa.string(): "sc:Text", pa.int64(): "sc:Integer", pa.int32(): "sc:Integer",
                    pa.uint64(): "sc:Integer", pa.uint32(): "sc:Integer",
                    pa.float32(): "sc:Float", pa.float64(): "sc:Float", pa.bool_(): "sc:Boolean",
                    pa.binary(): "sc:Text"}


def _croissant_field(f: pa.Field, parent: str, file_set: str = "refined-parquet") -> dict:
    """One Croissant field for an Arrow column: a list is a ``repeated`` field of its item type, a
    struct a field of ``subField``s, each read from the struct column by a ``jsonPath``."""
    typ = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
    repeated = pa.types.is_list(typ) or pa.types.is_large_list(typ)
    if repeated:
        typ = typ.value_type
    fid = f"{parent}/{f.name}"
    field = {"@type": "cr:Field", "@id": fid, "name": f.name,
             "description": (f.metadata or {}).get(b"description", b"").decode()}
    if pa.types.is_struct(typ):
        field["subField"] = [
            {"@type": "cr:Field", "@id": f"{fid}/{sub.name}", "name": sub.name,
             "description": f"{sub.name} of {f.name}", "dataType": _CROISSANT_TYPES[sub.type],
             "source": {"fileSet": {"@id": file_set}, "extract": {"column": f.name},
                        "transform": {"jsonPath": sub.name}}}
            for sub in typ]
    else:
        field["dataType"] = _CROISSANT_TYPES[typ]
        field["source"] = {"fileSet": {"@id": file_set}, "extract": {"column": f.name}}
    if repeated:
        field["repeated"] = True
    return field


def croissant_licences(aggregates: dict | None) -> list[str] | str:
    """SPDX licence URLs of the ids found in refined/ (``licence_spdx``); ``NOASSERTION`` when none."""
    from refinery.validators.card import hub_licences

    spdx = (aggregates or {}).get("refined", {}).get("licence_spdx", {})
    by_lower = {}
    for expr in spdx:
        for tok in str(expr).replace("(", " ").replace(")", " ").split():
            by_lower[tok.lower()] = tok
    ids = [by_lower[i] for i in hub_licences(spdx) if i != "unknown" and i in by_lower]
    return [f"https://spdx.org/licenses/{i}.html" for i in ids] or "NOASSERTION"


def _index_croissant() -> tuple[dict, dict]:
    """The dedup index's file set and record set (``index/``: sketches, no text)."""
    from refinery.transforms.dedup_index import INDEX_SCHEMA

    files = {"@type": "cr:FileSet", "@id": "index-parquet", "name": "index-parquet",
             "description": "Parquet files of index/: the dedup index (MinHash sketches and content hashes, no "
                            "text), read by `refinery run --dedup-against` and `refinery overlap`",
             "encodingFormat": "application/x-parquet", "includes": "index/*.parquet"}
    records = {"@type": "cr:RecordSet", "@id": "index", "name": "index",
               "description": "One sketch per refined and deduplicated document.",
               "field": [_croissant_field(f, "index", "index-parquet") for f in INDEX_SCHEMA]}
    return files, records


def croissant(manifest: dict, name: str = "refined", aggregates: dict | None = None, index: bool = False) -> dict:
    """Croissant 1.0 JSON-LD for refined/: every column of the files, lists as repeated fields and
    structs with their sub-fields; ``license`` the SPDX licences found in refined/. ``index``: the run
    wrote a dedup index (index/), described as a second file set and record set."""
    from refinery.transforms.beam.write import refined_file_schema

    fields = [_croissant_field(f, name) for f in refined_file_schema()]
    doc = {
        "@context": {"@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
                     "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
                     "dct": "http://purl.org/dc/terms/", "citeAs": "cr:citeAs", "column": "cr:column",
                     "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
                     "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples",
                                                                                        "@type": "@json"},
                     "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty",
                     "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format",
                     "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath",
                     "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
                     "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
                     "repeated": "cr:repeated", "replace": "cr:replace", "separator": "cr:separator",
                     "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
                     "samplingRate": "cr:samplingRate", "equivalentProperty": "cr:equivalentProperty"},
        "@type": "sc:Dataset",
        "name": f"refinery-{manifest['run_id']}".replace(":", "-"),
        "description": f"Refined text dataset written by Refinery run {manifest['run_id']} "
                       f"({manifest.get('totals', {}).get('refined', 0):,} documents).",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "citeAs": f"Refinery run {manifest['run_id']}, config sha256 {manifest.get('config_sha256')}",
        "datePublished": (manifest.get("finished_at") or manifest.get("started_at") or "")[:10],
        "url": "https://github.com/refinery/refinery",
        "license": croissant_licences(aggregates),
        "version": manifest.get("refinery_version", "0"),
        "distribution": [{"@type": "cr:FileSet", "@id": "refined-parquet", "name": "refined-parquet",
                          "description": "Parquet files of refined/, Hive-partitioned by lang",
                          "encodingFormat": "application/x-parquet", "includes": "refined/**/*.parquet"}],
        "recordSet": [{"@type": "cr:RecordSet", "@id": name, "name": name,
                       "description": "One refined document per record.", "field": fields}],
    }
    if index:
        files, records = _index_croissant()
        doc["distribution"].append(files)
        doc["recordSet"].append(records)
    return doc


def write_reports(out_dir: str, manifest: dict, aggregates: dict, validation: dict | None) -> list[str]:
    """Write validation.json, report.html, datacard.md, croissant.json; returns their paths."""
    paths = []

    def put(name, data: str):
        path = FileSystems.join(out_dir, "reports", name)
        write_atomic(path, data.encode())
        paths.append(path)

    if validation is not None:
        put("validation.json", json.dumps(validation, indent=1, ensure_ascii=False, default=str))
    put("report.html", render_html(manifest, aggregates, validation, out_dir))
    put("datacard.md", datacard(manifest, aggregates, validation))
    # Croissant resolves file paths relative to its own location: it lives at the output root.
    path = FileSystems.join(out_dir, "croissant.json")
    index = bool(FileSystems.match([FileSystems.join(out_dir, "index", "*.parquet")])[0].metadata_list)
    doc = croissant(manifest, aggregates=aggregates, index=index)
    write_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False).encode())
    paths.append(path)
    return paths
