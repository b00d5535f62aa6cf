"""The Hugging Face dataset card: ``README.md`` at the output root (pure; written by the run).

Its YAML header is what ``datasets.load_dataset(OUT)`` reads: ``configs`` — ``default`` (every
language) plus one per language, each with its ``data_files`` (``refined/lang=<lang>/*.parquet``) —
and the Hub's metadata: ``license`` (the SPDX ids found in ``licence_spdx``, lower-cased as the Hub
spells them), ``language`` (the ISO 639 primary subtags), ``size_categories``, ``task_categories``.
The refined files hold ``lang`` as a column as well as in their Hive path, so a reader that ignores
Hive partitioning (``datasets`` does) still has it.

The body is a generated summary: what was refined, the funnel, the languages, the licences and how to
read the output with pandas, DuckDB and ``datasets``. The header also carries ``refinery_run_id``: it
tells ``--overwrite`` that the card is the earlier run's own file.
"""

from __future__ import annotations

import re

import yaml

CARD_NAME = "README.md"
_SPDX_ID = re.compile(r"^[A-Za-z0-9.+-]+$")


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` value for ``n`` records."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
                        (1_000_000_000, "100M<n<1B"), (10_000_000_000, "1B<n<10B")):
        if n < limit:
            return name
    return "n>1T" if n >= 1_000_000_000_000 else "10B<n<100B" if n < 100_000_000_000 else "100B<n<1T"


def hub_licences(spdx_counts: dict[str, int]) -> list[str]:
    """SPDX ids of the refined records as the Hub lists licences: lower-case single ids; an expression
    (``MIT OR Apache-2.0``) contributes each of its ids; ``LicenseRef-*`` / none make ``unknown``."""
    out: set[str] = set()
    for expr, n in spdx_counts.items():
        if not n:
            continue
        if expr in (None, "None", "") or expr.startswith("LicenseRef-"):
            out.add("unknown")
            continue
        for tok in re.split(r"[()\s]+", expr):
            if not tok or tok.upper() in ("AND", "OR", "WITH"):
                continue
            out.add("unknown" if tok.startswith("LicenseRef-") or not _SPDX_ID.match(tok) else tok.lower())
    return sorted(out)


def hub_languages(langs: list[str]) -> list[str]:
    """ISO 639 primary subtags (``zh-Hans`` → ``zh``), ``und`` left out."""
    return sorted({lang.split("-", 1)[0] for lang in langs if lang and lang not in ("und", "None")})


_HF_DTYPES = {"string": "string", "large_string": "large_string", "int64": "int64", "int32": "int32",
              "float": "float32", "double": "float64", "bool": "bool", "binary": "binary"}


def hf_feature(typ) -> dict:
    """One column's type as the card's ``dataset_info.features`` spells it (without the name)."""
    import pyarrow as pa

    if pa.types.is_dictionary(typ):  # lang: stored dictionary-encoded, read as a plain string
        return hf_feature(typ.value_type)
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        inner = hf_feature(typ.value_type)
        return {"sequence": inner["dtype"] if set(inner) == {"dtype"} else inner}
    if pa.types.is_struct(typ):
        return {"struct": [{"name": f.name, **hf_feature(f.type)} for f in typ]}
    return {"dtype": _HF_DTYPES[str(typ)]}


def hf_features(schema) -> list[dict]:
    """``dataset_info.features`` of the refined files' schema: ``datasets`` then casts ``lang`` (a
    dictionary in the files, which it cannot infer) to a string instead of refusing the files."""
    return [{"name": f.name, **hf_feature(f.type)} for f in schema]


def refined_partitions(manifest: dict) -> dict[str, int]:
    """Rows per ``lang`` folder of refined/, from the manifest's outputs (a schema-only file of an
    empty refined/ has no partition and no rows)."""
    out: dict[str, int] = {}
    for o in manifest.get("outputs", []):
        if o["kind"] == "refined" and o.get("partition"):
            out[o["partition"]] = out.get(o["partition"], 0) + int(o["rows"])
    return dict(sorted(out.items()))


def card_metadata(manifest: dict, aggregates: dict) -> dict:
    """The YAML header as a dict; languages and their row counts come from the manifest's outputs,
    licences from the aggregates (``{}`` when validation is off: licence ``unknown``)."""
    ref = (aggregates or {}).get("refined", {})
    parts = refined_partitions(manifest)
    partitions = list(parts)
    configs = [{"config_name": "default", "default": True,
                "data_files": [{"split": "train", "path": "refined/*/*.parquet"}]}]
    for lang in sorted(partitions):
        configs.append({"config_name": lang,
                        "data_files": [{"split": "train", "path": f"refined/lang={lang}/*.parquet"}]})
    if not partitions:  # nothing refined: one schema-only file in refined/ itself
        configs[0]["data_files"] = [{"split": "train", "path": "refined/*.parquet"}]
    from refinery.transforms.beam.write import refined_file_schema

    features = hf_features(refined_file_schema())
    meta = {
        "configs": configs,
        "dataset_info": [{"config_name": c["config_name"], "features": features,
                          "splits": [{"name": "train", "num_examples": parts.get(c["config_name"], 0)
                                      if c["config_name"] != "default"
                                      else int(manifest.get("totals", {}).get("refined", 0))}]}
                         for c in configs],
        "license": hub_licences(ref.get("licence_spdx", {})) or ["unknown"],
        "language": hub_languages(partitions),
        "size_categories": [size_category(int(manifest.get("totals", {}).get("refined", 0)))],
        "task_categories": ["text-generation"],
        "pretty_name": f"Refinery run {manifest['run_id']}",
        "tags": ["refinery", "apache-beam"],
        "refinery_run_id": manifest["run_id"],
        "refinery_config_sha256": manifest.get("config_sha256"),
    }
    if not meta["language"]:
        del meta["language"]
    return meta


def _pairs(d: dict, n: int = 15) -> list[tuple[str, int]]:
    return sorted(((str(k), int(v)) for k, v in d.items() if v), key=lambda kv: (-kv[1], kv[0]))[:n]


def _md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_card(manifest: dict, aggregates: dict | None, stage_order: list[str] | None = None) -> str:
    """The whole ``README.md``: YAML header, then the generated summary."""
    aggregates = aggregates or {}
    meta = card_metadata(manifest, aggregates)
    parts = refined_partitions(manifest)
    partitions = list(parts)
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    t = manifest.get("totals", {})
    ref = aggregates.get("refined", {})
    rej = aggregates.get("rejected", {})
    counters = manifest.get("counters", {})
    order = [s for s in (stage_order or []) if s in counters] + [s for s in counters if s not in (stage_order or [])]
    funnel = []
    for ns in order:
        c = counters[ns]
        drops = ", ".join(f"{k.split(':', 1)[1]} {v:,}" for k, v in c.items() if k.startswith("dropped:") and v)
        funnel.append([f"`{ns}`", f"{c.get('seen', 0):,}", f"{c.get('kept', 0):,}", drops or "-"])
    langs = []
    for lang, n in _pairs(parts, 50):
        r = int(rej.get("lang", {}).get(lang, 0))
        langs.append([f"`{lang}`", f"{n:,}", f"{n / (n + r):.0%}" if n + r else "-",
                      f'`load_dataset(OUT, "{lang}")`' if lang in partitions else "-"])
    lics = [[f"`{k}`", f"{v:,}"] for k, v in _pairs(ref.get("licence_spdx", {}), 20)]
    if not ref:
        lics = [["not counted (validation was off)", "-"]]
    decisions = ", ".join(f"{k} {v:,}" for k, v in _pairs(ref.get("licence_decision", {}), 5))
    mb = (t.get("input_bytes") or 0) / 1e6
    body = f"""# Refinery run `{manifest['run_id']}`

Text documents refined by [Refinery](https://pypi.org/project/refinery/) {manifest.get('refinery_version')}
(Apache Beam {manifest.get('beam_version')}, {manifest.get('runner')}) from {len(manifest.get('inputs', []))}
input files ({mb:,.1f} MB, {t.get('records', 0):,} records): decoded and normalised, language-identified,
licence-tagged, quality-scored, PII-redacted and deduplicated. Status: **{manifest.get('status')}**.

- `refined/`: **{t.get('refined', 0):,}** documents, Parquet, one folder per language (`refined/lang=<lang>/`);
  `lang` is also a column in the files.
- `rejected/`: {t.get('rejected', 0):,} records with `reject_stage`, `reject_reason`, `reject_detail`.
- `errors/`: {t.get('errors', 0):,} records that could not be read, with their raw bytes.
- `reports/`: `manifest.json` (inputs with sha256, outputs, counters, reconciliation), `report.html`,
  `validation.json`, `openlineage.jsonl`; `croissant.json` next to this card.

## Funnel (records per stage, in pipeline order)

{_md_table(["stage", "seen", "kept", "rejected (reason count)"], funnel) if funnel else "no counters"}

## Languages (refined)

{_md_table(["lang", "documents", "share kept", "config"], langs) if langs else "none"}

## Licences (refined, `licence_spdx`)

{_md_table(["SPDX", "documents"], lics) if lics else "none"}

Policy decisions: {decisions or "none"}. Records with `licence_decision = review` need a human decision
before use; the header's `license` lists every id found, not a licence for the whole set.

## How to read it

```python
from datasets import load_dataset
ds = load_dataset("OUT")                # every language (config "default"), split "train"
zh = load_dataset("OUT", "zh-Hans")     # one language: any config named in the header

import pandas as pd
df = pd.read_parquet("OUT/refined")     # lang from the Hive path

import duckdb
duckdb.sql("SELECT lang, count(*) FROM read_parquet('OUT/refined/**/*.parquet', hive_partitioning=true) GROUP BY lang")
```

Every row carries its lineage (`source_uri`, `source_line`, `source_sha256`, `run_id`, `config_sha256`);
`refinery explain OUT DOC_ID` shows where one record came from and every decision taken.
Config sha256 `{manifest.get('config_sha256')}`.
"""
    return f"---\n{header}---\n\n{body}"


def card_run_id(text: str) -> str | None:
    """The ``refinery_run_id`` of a card's YAML header (None when it is not a Refinery card)."""
    if not text.startswith("---\n"):
        return None
    head = text[4:].split("\n---\n", 1)[0]
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError:
        return None
    return meta.get("refinery_run_id") if isinstance(meta, dict) else None
