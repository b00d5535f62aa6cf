"""Language-id benchmark: accuracy per length bucket and per language, Chinese script accuracy,
throughput — Refinery's DetectLanguage core next to plain (seeded) langdetect, in the same run.

    python -m benchmarks.langid [--shared ../shared/data] [--per-lang 60] [--json out.json]
    python -m benchmarks.langid --sentences [--split tune|heldout] [--po-dir DIR]   # per-language table
    python -m benchmarks.langid --calibrate                                        # refit lang_score

``--sentences``: sentence-level accuracy of default-settings DetectLanguage per language, for every UDHR
language CLD2 or lingua knows (and, marked "unknown", those neither knows: right answers are impossible
there, a low score is what counts), with the share of wrong labels scored >= 0.8 and of right labels
kept at 0.8. UDHR lines are split per file: ``tune`` = the first half of each file (preamble and the first
articles: what ``--calibrate`` fits on), ``heldout`` = the second half (never tuned on). ``--po-dir``: a
second, independent held-out source: the translated messages of Django's catalogs (``pip download
--no-deps django==5.0.6`` and unzip it into DIR), labelled by their locale.

Labelled set: UDHR (../shared/data/udhr/data.jsonl, public domain), lines of the languages in
``LANGS`` (langdetect's 55 languages less the five UDHR lacks as UTF-8 text: 50 languages),
cut into single words, word pairs, sentences (lines of 20-500 characters) and 2-5 KB documents.
Chinese lines are labelled zh-Hans / zh-Hant from the cmn_hans / cmn_hant files; for the
50-language accuracy both count as ``zh``.
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
from collections import defaultdict
from pathlib import Path

from benchmarks._timing import benchmark_parser, rate
from refinery.transforms.language import LanguageIdentifier, normalise_code
from refinery.transforms.text import normalise_text

ROOT = Path(__file__).resolve().parent.parent
LANGS = ["af", "ar", "bg", "bn", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "gu", "he",
         "hi", "hr", "hu", "id", "it", "ja", "kn", "ko", "lt", "lv", "mk", "ml", "mr", "ne", "nl", "no", "pa", "pl",
         "pt", "ro", "ru", "sk", "sl", "so", "sq", "sv", "sw", "ta", "te", "th", "tl", "tr", "uk", "ur", "vi", "zh"]
BUCKETS = ["word", "pair", "<=20", "20-100", "100-500", ">500"]


def load(shared: Path, per_lang: int, seed: int = 7):
    by_lang: dict[str, list[str]] = defaultdict(list)
    seen_variant: dict[str, str] = {}
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["source"] != "udhr2":
                continue
            if d["variant"] in ("cmn_hans", "cmn_hant"):
                gold = "zh-Hans" if d["variant"] == "cmn_hans" else "zh-Hant"
            else:
                iso = normalise_code(d.get("lang_iso639_1") or "")
                if iso not in LANGS:
                    continue
                gold = iso
            # One file per language (the first met), so the set is not dominated by dialect variants.
            if seen_variant.setdefault(gold, d["variant"]) != d["variant"]:
                continue
            by_lang[gold].append(normalise_text(d["text"]).strip())  # as ingest hands it over
    rng = random.Random(seed)
    items: list[tuple[str, str, str]] = []  # (bucket, gold, text)
    docs: list[tuple[str, str]] = []
    for gold, lines in sorted(by_lang.items()):
        lines = [line for line in lines if len(line) >= 20]
        sents = [line for line in lines if len(line) <= 500]
        for s in rng.sample(sents, min(per_lang, len(sents))):
            n = len(s)
            items.append(("<=20" if n <= 20 else "20-100" if n <= 100 else "100-500", gold, s))
        words = [w.strip(".,;:()«»\"'!?“”") for line in lines for w in line.split()]
        words = [w for w in words if len(w) >= 3 and not any(c.isdigit() for c in w)]
        if gold.startswith(("zh", "ja")):  # no spaces: take 2-4 character slices as "words"
            words = [line[i:i + rng.choice((2, 3, 4))] for line in lines for i in range(0, len(line) - 4, 7)]
            words = [w for w in words if all(c.isalpha() for c in w)]
        for w in rng.sample(words, min(per_lang, len(words))):
            items.append(("word", gold, w))
        pairs = [" ".join(line.split()[i:i + 2]) for line in lines for i in range(0, max(1, len(line.split()) - 1), 3)]
        if gold.startswith(("zh", "ja")):
            pairs = [line[i:i + rng.choice((4, 5, 6))] for line in lines for i in range(0, len(line) - 6, 9)]
        pairs = [p for p in pairs if len(p) >= 4]
        for p in rng.sample(pairs, min(per_lang, len(pairs))):
            items.append(("pair", gold, p))
        # 2-5 KB documents of consecutive lines
        i = 0
        while i < len(lines) and len([d for d in docs if d[0] == gold]) < 3:
            target = rng.randint(2000, 5000)
            buf = []
            while i < len(lines) and len("\n".join(buf).encode()) < target:
                buf.append(lines[i])
                i += 1
            if len("\n".join(buf).encode()) >= 2000:
                docs.append((gold, "\n".join(buf)))
                items.append((">500", gold, "\n".join(buf)))
    return items, docs


# 639-3 codes of udhr2 files without a 639-1 code in the data, written as the detectors write them.
_ISO3 = {"arb": "ar", "pes": "fa", "swh": "sw", "khk": "mn", "mly": "ms", "uzn": "uz", "azj": "az", "als": "sq",
         "ceb": "ceb", "haw": "haw", "war": "war", "pbu": "ps", "ckb": "ku", "nob": "no", "nso": "nso", "crs": "crs",
         "kha": "kha", "kri": "kri", "loz": "loz", "lua": "lua", "pam": "pam", "sco": "sco", "gaa": "gaa", "quz": "qu"}
# Second files of a language (another script or spelling): one file per language.
_SKIP_VARIANTS = {"azj_cyrl", "mly_arab", "uzn_cyrl", "tuk_cyrl", "uig_latn", "ell_polytonic", "bos_cyrl", "deu_1901",
                  "ron_1953", "ron_1993", "lat_1", "srp_latn", "tgl_tglg", "lin_tones", "khk_mong"}
# Django locales as the lang column writes them.
_PO_LOCALES = {"nb": "no", "zh_Hans": "zh", "zh_Hant": "zh", "sr_Latn": None, "ar_DZ": None, "es_AR": None,
               "es_CO": None, "es_MX": None, "es_VE": None, "en_AU": None, "en_GB": None, "pt_BR": None, "ckb": "ku"}


def load_sentences(shared: Path, split: str) -> dict[str, list[str]]:
    """UDHR udhr2 lines of 20-500 characters per language; ``split`` tune = first half of each file."""
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = [d for d in rows if d["source"] == "udhr2" and d["variant"] not in _SKIP_VARIANTS]
    last: dict[str, int] = defaultdict(int)
    for d in rows:
        last[d["variant"]] = max(last[d["variant"]], d["line_no"])
    by: dict[str, list[str]] = defaultdict(list)
    first_file: dict[str, str] = {}
    for d in rows:
        if d["variant"] in ("cmn_hans", "cmn_hant"):
            gold = "zh"
        else:
            gold = normalise_code(d["lang_iso639_1"]) if d["lang_iso639_1"] else _ISO3.get(d["lang"], "")
        gold = "no" if gold == "nb" else gold
        if not gold or (first_file.setdefault(gold, d["variant"]) != d["variant"] and gold != "zh"):
            continue
        if (split == "tune") != (d["line_no"] < last[d["variant"]] / 2):
            continue
        text = normalise_text(d["text"]).strip()
        if 20 <= len(text) <= 500:
            by[gold].append(text)
    return by


def load_po_sentences(po_dir: Path) -> dict[str, list[str]]:
    """Translated messages (25-400 characters, placeholders and markup removed) of Django's catalogs."""
    import ast
    import re

    by: dict[str, set[str]] = defaultdict(set)
    for path in sorted(po_dir.glob("django/**/locale/*/LC_MESSAGES/django.po")):
        locale = path.parts[-3]
        gold = _PO_LOCALES.get(locale, locale)
        if gold is None:
            continue
        entry: dict[str, str] | None = None
        field = None
        entries = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.startswith("#,") and "fuzzy" in line:
                    entry, field = None, None
                    continue
                if line.startswith("msgid "):
                    entry, field, line = {"msgid": "", "msgstr": ""}, "msgid", line[6:]
                    entries.append(entry)
                elif line.startswith("msgstr ") or line.startswith("msgstr[0] "):
                    field, line = "msgstr", line.split(" ", 1)[1]
                elif line.startswith(("msgid_plural", "msgstr[")):
                    field = None
                    continue
                elif not line.startswith('"'):
                    continue
                if entry is not None and field is not None:
                    with contextlib.suppress(SyntaxError, ValueError):
                        entry[field] += ast.literal_eval(line)
        for e in entries:
            text = e["msgstr"]
            if not e["msgid"] or not text or text == e["msgid"]:
                continue
            text = re.sub(r"%\([^)]*\)[sdif]|%[sd]|\{[^}]*\}|<[^>]+>|&[a-z]+;", " ", text)
            text = re.sub(r"\s+", " ", text).strip()
            if 25 <= len(text) <= 400:
                by[gold].add(text)
    return {k: sorted(v) for k, v in by.items()}


def known_languages() -> set[str]:
    import pycld2
    from lingua import Language

    return ({normalise_code(c) for _n, c in pycld2.LANGUAGES}
            | {normalise_code(lang.iso_code_639_1.name) for lang in Language.all()})


# Shown even with few sentences (UDHR has 3 lines of Pashto and no Aragonese).
ALWAYS_SHOWN = ["kk", "ps", "is", "ha", "an"]


def sentence_table(ident, by: dict[str, list[str]], per_lang: int, seed: int = 3, min_n: int = 15):
    """Per language: (n, accuracy, share wrong with score >= 0.8, top confusions); and the pooled
    (right labels, right labels kept at 0.8, wrong labels at >= 0.8, all) counts."""
    rng = random.Random(seed)
    rows = {}
    pooled = [0, 0, 0, 0]
    for gold in sorted(set(by) | set(ALWAYS_SHOWN)):
        texts = by.get(gold, [])
        if len(texts) < (1 if gold in ALWAYS_SHOWN else min_n):
            if gold in ALWAYS_SHOWN:
                rows[gold] = (0, float("nan"), float("nan"), [("no labelled sentences in this source", 0)])
            continue
        texts = rng.sample(texts, min(per_lang, len(texts)))
        ok = wrong_hi = 0
        confused: dict[str, int] = defaultdict(int)
        for t in texts:
            r = ident.identify(t)
            if lang_of(r.lang) == gold:
                ok += 1
                pooled[1] += r.score >= 0.8
            else:
                confused[r.lang] += 1
                wrong_hi += r.score >= 0.8
        pooled[0] += ok
        pooled[2] += wrong_hi
        pooled[3] += len(texts)
        top = sorted(confused.items(), key=lambda kv: -kv[1])[:2]
        rows[gold] = (len(texts), ok / len(texts), wrong_hi / len(texts), top)
    return rows, pooled


def print_sentence_table(rows, pooled, common: set[str], known: set[str], title: str) -> None:
    print(f"\n{title}")
    print(f"{'lang':<6}{'group':<9}{'n':>4}{'acc':>7}{'wrong>=0.8':>12}  confused with")
    groups = {"common": [], "other": [], "unknown": []}
    for gold, (n, acc, wrong_hi, top) in rows.items():
        group = "common" if gold in common else "other" if gold in known else "unknown"
        if n >= 15:  # the means leave out the languages shown with too few sentences
            groups[group].append((acc, wrong_hi, n))
        conf = ", ".join(f"{c} {k}" for c, k in top)
        print(f"{gold:<6}{group:<9}{n:>4}{acc:>7.3f}{wrong_hi:>12.3f}  {conf}")
    for group, vals in groups.items():
        if vals:
            n = sum(v[2] for v in vals)
            print(f"{group:>8}: {len(vals)} languages, mean accuracy {statistics.mean(v[0] for v in vals):.3f}, "
                  f"wrong and >= 0.8 {sum(v[1] * v[2] for v in vals) / n:.3f} of sentences")
    right, kept, wrong_hi, total = pooled
    print(f"all: right labels kept at lang_score >= 0.8: {kept / max(1, right):.3f}; "
          f"wrong labels >= 0.8: {wrong_hi / max(1, total):.3f} of {total} sentences")


def calibrate(shared: Path, per_lang: int) -> None:
    """Fit CALIBRATION on the tune half: per evidence key, the share of right labels per raw-confidence
    bin, made non-decreasing (pool adjacent violators), printed as the table to paste."""
    from refinery.transforms import language as L

    saved = L.CALIBRATION
    L.CALIBRATION = {}
    by = load_sentences(shared, "tune")
    ident = LanguageIdentifier()
    rng = random.Random(3)
    seen: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    try:
        for gold in sorted(by):
            for t in rng.sample(by[gold], min(per_lang, len(by[gold]))):
                L._TRACE = []
                r = ident.identify(t)
                for key, raw in L._TRACE[-1:]:
                    seen[key].append((raw, lang_of(r.lang) == gold))
    finally:
        L._TRACE = None
        L.CALIBRATION = saved
    edges = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
    table = {}
    for key, pairs in sorted(seen.items()):
        if len(pairs) < 20:  # too few to fit: the raw confidence stands
            print(f"# {key}: {len(pairs)} sentences, not fitted")
            continue
        bins = []
        for i, lo in enumerate(edges):
            hi = edges[i + 1] if i + 1 < len(edges) else 1.01
            cell = [ok for raw, ok in pairs if lo <= raw < hi]
            if cell:
                bins.append([lo, sum(cell), len(cell)])
        merged: list[list[float]] = []
        for b in bins:  # pool adjacent violators: precision must not fall as raw confidence rises
            merged.append(b)
            while len(merged) > 1 and merged[-2][1] / merged[-2][2] > merged[-1][1] / merged[-1][2]:
                last = merged.pop()
                merged[-1][1] += last[1]
                merged[-1][2] += last[2]
        table[key] = [(lo, round(min(0.99, ok / n), 2)) for lo, ok, n in merged]
        print(f"# {key}: {len(pairs)} sentences, " + ", ".join(f">={lo}: {ok}/{n}" for lo, ok, n in merged))
    print("CALIBRATION = {")
    for key, steps in table.items():
        print(f"    \"{key}\": {steps},")
    print("}")


def lang_of(code: str) -> str:
    return "zh" if code.startswith("zh") else code


def accuracy(predict, items):
    per = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # bucket -> lang -> [ok, n]
    script = [0, 0]
    for bucket, gold, text in items:
        pred = predict(text)
        ok = lang_of(pred) == lang_of(gold)
        cell = per[bucket][lang_of(gold)]
        cell[0] += ok
        cell[1] += 1
        if gold.startswith("zh") and bucket in ("20-100", "100-500", "<=20"):
            script[0] += pred == gold
            script[1] += 1
    table = {}
    for bucket in BUCKETS:
        langs = per.get(bucket, {})
        if langs:
            table[bucket] = 100 * statistics.mean(ok / n for ok, n in langs.values())
    sent = [c for b in ("<=20", "20-100", "100-500") for c in per[b].values()]
    table["sentences"] = 100 * sum(ok for ok, _ in sent) / max(1, sum(n for _, n in sent))
    by_lang = {lang: 100 * sum(per[b][lang][0] for b in per) / max(1, sum(per[b][lang][1] for b in per))
               for lang in sorted({lg for b in per for lg in per[b]})}
    return table, (100 * script[0] / max(1, script[1])), by_lang


def throughput(predict, texts):
    return rate(lambda: [predict(t) for t in texts] and len(texts), sum(len(t.encode()) for t in texts))


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--per-lang", type=int, default=60)
    ap.add_argument("--skip-langdetect", action="store_true")
    ap.add_argument("--sentences", action="store_true", help="per-language sentence table (see above)")
    ap.add_argument("--split", choices=["tune", "heldout"], default="heldout")
    ap.add_argument("--po-dir", help="unzipped Django wheel: its catalogs as a second held-out source")
    ap.add_argument("--calibrate", action="store_true", help="refit lang_score's calibration on the tune half")
    args = ap.parse_args()
    shared = Path(args.shared)
    if args.calibrate:
        calibrate(shared, args.per_lang)
        return
    if args.sentences:
        import resource
        import time

        from refinery.transforms.language import COMMON_LANGUAGES

        common = {lang_of(c) for c in COMMON_LANGUAGES}
        known = known_languages()
        ident = LanguageIdentifier()
        sources = [(f"UDHR {args.split} half", load_sentences(shared, args.split))]
        if args.po_dir:
            sources.append(("Django catalogs (held out)", load_po_sentences(Path(args.po_dir))))
        for title, by in sources:
            start = time.perf_counter()
            rows, pooled = sentence_table(ident, by, args.per_lang)
            took = time.perf_counter() - start
            print_sentence_table(rows, pooled, common, known, title)
            print(f"{pooled[3] / took:.0f} sentences/s (one core; shared machine: noisy); "
                  f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        return
    items, docs = load(shared, args.per_lang)
    print(f"labelled set: {len(items)} items, {len({g for _b, g, _t in items})} labels (50 languages + zh script)")

    ident = LanguageIdentifier()
    ours = lambda t: ident.identify(t).lang  # noqa: E731
    from refinery.transforms.language import _LangdetectModel

    ld = _LangdetectModel(0)

    def plain_langdetect(t):
        r = ld.detect(t)
        return r[0][0] if r else "und"

    results = {}
    systems = [("refinery", ours)] + ([] if args.skip_langdetect else [("langdetect", plain_langdetect)])
    for name, fn in systems:
        table, script_acc, by_lang = accuracy(fn, items)
        doc_texts = [t for _g, t in docs]
        dps, mbs = throughput(fn, doc_texts)
        poems = []
        poetry = shared / "cjk-poetry.jsonl"
        if poetry.exists():
            with open(poetry, encoding="utf-8") as f:
                buf = []
                for line in f:
                    buf.append(json.loads(line)["text"])
                    if sum(len(b) for b in buf) > 1200:
                        poems.append("\n".join(buf))
                        buf = []
                    if len(poems) >= 300:
                        break
        cdps, cmbs = throughput(fn, poems) if poems else (0, 0)
        results[name] = {"accuracy": table, "zh_script_accuracy": script_acc, "per_language": by_lang,
                         "docs_per_s": dps, "mb_per_s": mbs, "cjk_docs_per_s": cdps, "cjk_mb_per_s": cmbs}
    print()
    head = (f"{'detector':<12}" + "".join(f"{b:>9}" for b in BUCKETS)
            + f"{'sent.':>8}{'zh-script':>10}{'MB/s':>8}{'CJK MB/s':>10}")
    print(head)
    for name, r in results.items():
        a = r["accuracy"]
        print(f"{name:<12}" + "".join(f"{a.get(b, float('nan')):>8.1f}%" for b in BUCKETS)
              + f"{a['sentences']:>7.1f}%{r['zh_script_accuracy']:>9.1f}%"
              + f"{r['mb_per_s']:>8.2f}{r['cjk_mb_per_s']:>10.1f}")
    print("\n(macro accuracy over languages per bucket; 'sent.' = all lines of 20-500 chars, micro; "
          "MB/s on 2-5 KB UDHR documents, one core; CJK MB/s on ~1.2 KB classical Chinese documents)")
    worst = sorted(results["refinery"]["per_language"].items(), key=lambda kv: kv[1])[:10]
    print("refinery, weakest languages (all buckets): " + ", ".join(f"{k} {v:.0f}%" for k, v in worst))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
