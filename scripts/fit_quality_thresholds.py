"""Fit per-language quality thresholds from clean reference text (FineWeb-2 style) into
``transforms/data/quality_thresholds.json``.

    python scripts/fit_quality_thresholds.py [--udhr ../shared/data/udhr/data.jsonl] [--out PATH]

Reference text: the Universal Declaration of Human Rights (source ``udhr2`` of the shared UDHR set,
public domain), one translation per language, cut into documents of 4 consecutive paragraphs
(paragraphs of 60+ characters, 25+ for CJK; headings dropped). Every language with at least
8 such documents is fitted.

Method. Gopher's thresholds were set on English; FineWeb-2 (Penedo et al. 2025) re-derives each one
per language from that language's own distribution. Here each threshold moves only towards leniency,
by whichever is larger of two corrections, so clean text of the language passes and nothing gets
stricter than the English default:

* scale: the English threshold times the ratio of the language's median to English's median
  (a language whose clean text has 5 % fewer alphabetic tokens gets a 5 % lower minimum);
* margin: the language's own extreme clean value with a margin (lowest × 0.97 for a minimum,
  highest × 1.1 for a maximum), so no reference document of the language would be rejected.

Fitted: min_alpha_words_frac (floor 0.5), min_mean_word_length, max_mean_word_length (margin only,
highest × 1.25: scaling a maximum of 10 by the median would allow 24-character "words" in Malayalam),
min_stop_words (the lowest count
seen, at least 1; languages with a stop-word list), max_top_2/3/4gram_char_frac (cap 0.4).
The other thresholds stay the defaults. The UDHR is legal prose: its figures are a reference,
not news or web text; the per-language overrides in the configuration (``quality.per_language``)
apply over these values.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from refinery.pipelines.config import QualityThresholds
from refinery.transforms.quality import _stop_list, quality_signals
from refinery.transforms.text import normalise_text

ROOT = Path(__file__).resolve().parent.parent
PARAS_PER_DOC = 4
MIN_DOCS = 8
CJK_VARIANTS = {"cmn_hans": "zh", "cmn_hant": "zh", "jpn": "ja", "kor": "ko"}
MIN_KEYS = {"min_alpha_words_frac": ("alpha_words_frac", 0.5)}
MAX_KEYS = {f"max_top_{n}gram_char_frac": (f"top_{n}gram_char_frac", 0.4) for n in (2, 3, 4)}


def reference_docs(udhr: Path) -> dict[str, list[str]]:
    paras: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with open(udhr, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            code = CJK_VARIANTS.get(d["variant"]) or d["lang_iso639_1"]
            if d["source"] != "udhr2" or not code:
                continue
            t = normalise_text(d["text"]).strip()
            if len(t) >= (25 if d["variant"] in CJK_VARIANTS else 60):
                paras[code][d["variant"]].append(t)
    docs = {}
    for code, variants in paras.items():
        # one translation per language: the variant named like the language (eng, deu), else the longest
        v = max(variants, key=lambda k: (k in CJK_VARIANTS or "_" not in k, len(variants[k]), k))
        ps = variants[v]
        pieces = ["\n\n".join(ps[i:i + PARAS_PER_DOC]) for i in range(0, len(ps), PARAS_PER_DOC)]
        if len(pieces) >= MIN_DOCS:
            docs[code] = pieces
    return docs


def fit(docs: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    base = QualityThresholds().model_dump()
    sigs = {code: [quality_signals(t, code) for t in texts] for code, texts in docs.items()}
    med = {code: {k: statistics.median(s[k] for s in ss) for k in ("alpha_words_frac", "mean_word_length",
                                                                    "top_2gram_char_frac", "top_3gram_char_frac",
                                                                    "top_4gram_char_frac")}
           for code, ss in sigs.items()}
    en = med["en"]
    out: dict[str, dict[str, float]] = {}
    for code, ss in sorted(sigs.items()):
        if code == "en":
            continue
        t: dict[str, float] = {}
        for key, (signal, floor) in MIN_KEYS.items():
            v = min(base[key], base[key] * med[code][signal] / en[signal], min(s[signal] for s in ss) * 0.97)
            t[key] = max(floor, v)
        for key, (signal, cap) in MAX_KEYS.items():
            ratio = med[code][signal] / en[signal] if en[signal] else 1.0
            v = max(base[key], base[key] * ratio, max(s[signal] for s in ss) * 1.1)
            t[key] = min(cap, v)
        if not ss[0]["syllabic_script"] and statistics.median(s["cjk_frac"] for s in ss) < 0.5:
            r = med[code]["mean_word_length"] / en["mean_word_length"]
            lo = min(s["mean_word_length"] for s in ss)
            hi = max(s["mean_word_length"] for s in ss)
            t["min_mean_word_length"] = min(base["min_mean_word_length"], base["min_mean_word_length"] * r, lo * 0.9)
            t["max_mean_word_length"] = max(base["max_mean_word_length"], hi * 1.25)
        if _stop_list(code) is not None:
            t["min_stop_words"] = float(max(1, min(base["min_stop_words"], min(s["stop_words"] for s in ss))))
        changed = {k: round(v, 3) for k, v in t.items() if abs(v - base[k]) > 1e-9}
        if changed:
            out[code] = changed
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--udhr", default=str(ROOT.parent / "shared" / "data" / "udhr" / "data.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "transforms" / "data" / "quality_thresholds.json"))
    args = ap.parse_args()
    docs = reference_docs(Path(args.udhr))
    fitted = fit(docs)
    about = ("Per-language quality thresholds fitted from clean reference text by scripts/fit_quality_thresholds.py "
             "(method in its docstring): the UDHR (udhr2, public domain), one translation per language, documents "
             f"of {PARAS_PER_DOC} paragraphs. Only thresholds that differ from the English defaults are listed; "
             "every change is towards leniency.")
    data = {"about": about, "languages_fitted": sorted(docs), "languages": fitted}
    Path(args.out).write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(docs)} languages fitted, {len(fitted)} with thresholds that differ from the defaults -> {args.out}")
    for code, t in fitted.items():
        print(f"  {code:<4} {t}")


if __name__ == "__main__":
    main()
