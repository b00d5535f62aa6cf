"""Language-id benchmark: accuracy per length bucket and per language, Chinese script accuracy,
throughput — Refinery's DetectLanguage core next to plain (seeded) langdetect, in the same run.

    python -m benchmarks.langid [--shared ../shared/data] [--per-lang 60] [--json out.json]

Labelled set: UDHR (../shared/data/udhr/data.jsonl, public domain), lines of the languages in
``LANGS`` (langdetect's 55 languages less the five UDHR lacks as UTF-8 text: 50 languages),
cut into single words, word pairs, sentences (lines of 20-500 characters) and 2-5 KB documents.
Chinese lines are labelled zh-Hans / zh-Hant from the cmn_hans / cmn_hant files; for the
50-language accuracy both count as ``zh``.
"""

from __future__ import annotations

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
    for line in open(shared / "udhr" / "data.jsonl", encoding="utf-8"):
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
    args = ap.parse_args()
    shared = Path(args.shared)
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
    head = f"{'detector':<12}" + "".join(f"{b:>9}" for b in BUCKETS) + f"{'sent.':>8}{'zh-script':>10}{'MB/s':>8}{'CJK MB/s':>10}"
    print(head)
    for name, r in results.items():
        a = r["accuracy"]
        print(f"{name:<12}" + "".join(f"{a.get(b, float('nan')):>8.1f}%" for b in BUCKETS)
              + f"{a['sentences']:>7.1f}%{r['zh_script_accuracy']:>9.1f}%{r['mb_per_s']:>8.2f}{r['cjk_mb_per_s']:>10.1f}")
    print("\n(macro accuracy over languages per bucket; 'sent.' = all lines of 20-500 chars, micro; "
          "MB/s on 2-5 KB UDHR documents, one core; CJK MB/s on ~1.2 KB classical Chinese documents)")
    worst = sorted(results["refinery"]["per_language"].items(), key=lambda kv: kv[1])[:10]
    print("refinery, weakest languages (all buckets): " + ", ".join(f"{k} {v:.0f}%" for k, v in worst))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
