"""Quality benchmark: keep rate of clean prose per language, reject rate of junk per kind, throughput.

    python -m benchmarks.quality [--shared ../shared/data] [--json out.json]

Clean prose: UDHR article paragraphs (headings dropped: lines of 60+ characters), each language's
declaration cut into 8 documents of consecutive paragraphs (the same content in every language), in 26
languages including Chinese (Simplified and Traditional), Japanese, Korean, Thai, Arabic, Hindi,
Malayalam and Tamil.
Junk (generated, deterministic): navigation/cookie boilerplate, lorem ipsum, keyword lists,
repeated-line spam, symbol soup, link lists — 100 documents per kind, with words from the same
languages. Default config (all four presets); language as DetectLanguage reports it.
Untouched set: the legacy NLTK "udhr" transcriptions of 25 languages (zh, ja, ar, hi, ru, kk, ...;
other translations and line breaks than udhr2, read neither by the tuned set nor by
scripts/fit_quality_thresholds.py), documents of 12 consecutive lines as laid out in the files, and
junk made from each language's own words (keyword lists, repeated lines, menus, link lists, symbol soup).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from benchmarks._timing import benchmark_parser, rate
from refinery.pipelines.config import RunConfig
from refinery.transforms.language import LanguageIdentifier
from refinery.transforms.quality import apply_rules, quality_signals, thresholds_for
from refinery.transforms.text import normalise_text

ROOT = Path(__file__).resolve().parent.parent
CLEAN_PIECES = 8
VARIANTS = {"eng": "en", "fra": "fr", "deu": "de", "spa": "es", "ita": "it", "nld": "nl", "swe": "sv", "pol": "pl",
            "rus": "ru", "ukr": "uk", "tur": "tr", "ind": "id", "vie": "vi", "arb": "ar", "heb": "he", "hin": "hi",
            "ben": "bn", "tha": "th", "ell": "el", "jpn": "ja", "kor": "ko", "cmn_hans": "zh-Hans",
            "cmn_hant": "zh-Hant", "por": "pt", "mal": "ml", "tam": "ta"}


def clean_docs(shared: Path) -> list[tuple[str, str]]:
    paras: dict[str, list[str]] = defaultdict(list)
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["source"] == "udhr2" and d["variant"] in VARIANTS:
                t = normalise_text(d["text"]).strip()
                min_len = 25 if d["variant"] in ("cmn_hans", "cmn_hant", "jpn", "kor") else 60
                if len(t) >= min_len:
                    paras[VARIANTS[d["variant"]]].append(t)
    # Every language's declaration in the same number of consecutive pieces, so a document holds the
    # same content in every language (equal bytes would give Malayalam, at 3 bytes a character, half
    # the words of English).
    docs = []
    for lang, ps in sorted(paras.items()):
        for k in range(CLEAN_PIECES):
            piece = ps[k * len(ps) // CLEAN_PIECES:(k + 1) * len(ps) // CLEAN_PIECES]
            if piece:
                docs.append((lang, "\n\n".join(piece)))
    return docs


def junk_docs(shared: Path, rng: random.Random) -> list[tuple[str, str]]:
    vocab = []
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["source"] == "udhr2" and d["variant"] in ("eng", "fra", "deu", "spa"):
                vocab += [w.strip(".,;:()") for w in d["text"].split() if w.isalpha()]
    out = []
    for _ in range(100):
        w = lambda k: " ".join(rng.choice(vocab) for _ in range(k))  # noqa: E731
        out.append(("boilerplate", "\n".join(rng.sample([
            "Home | About | Contact | Login | Register", "We use cookies to improve your experience.",
            "By using this site you agree to our terms of use and privacy policy.", "Accept all cookies",
            "Please enable JavaScript to view this page.", "Copyright © 2024. All rights reserved.",
            "Follow us on social media", "Subscribe to our newsletter", "Share this page", "Back to top",
            "Skip to main content", "Search", "Menu", "Sign in", f"{w(2).title()} | {w(2).title()}"], 10))))
        out.append(("lorem_ipsum", "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + w(120) + "."))
        out.append(("keyword_list", ", ".join(w(1) for _ in range(rng.randint(60, 200)))))
        line = w(rng.randint(4, 9)).capitalize() + "!"
        out.append(("repeated_lines", "\n".join([line] * rng.randint(15, 40) + [w(30) + "."])))
        out.append(("symbol_soup", " ".join(rng.choice(["###", "#", "...", "…", "$$", "%%", "&&", "***", "|", "@@"])
                                            for _ in range(rng.randint(100, 300)))))
        out.append(("link_list", "\n".join(f"» {w(rng.randint(1, 3)).title()}" for _ in range(rng.randint(20, 60)))))
    return out


# The untouched set: the legacy NLTK "udhr" collection (older transcriptions, other line breaks, spaced
# Chinese), which neither this benchmark's tuned set nor scripts/fit_quality_thresholds.py (both udhr2)
# reads; documents of 12 consecutive lines exactly as the files lay them out (headings included).
HELDOUT = {"English-Latin1": "en", "German_Deutsch-Latin1": "de", "French_Francais-Latin1": "fr",
           "Spanish-Latin1": "es", "Italian-Latin1": "it", "Portuguese_Portugues-Latin1": "pt",
           "Russian-UTF8": "ru", "Ukrainian-UTF8": "uk", "Kazakh-UTF8": "kk", "Polish-Latin2": "pl",
           "Czech-UTF8": "cs", "Hungarian_Magyar-UTF8": "hu", "Finnish_Suomi-Latin1": "fi", "Turkish_Turkce-UTF8": "tr",
           "Greek_Ellinika-UTF8": "el", "Hebrew_Ivrit-UTF8": "he", "Arabic_Alarabia-Arabic": "ar",
           "Farsi_Persian-UTF8": "fa", "Hindi-UTF8": "hi", "Bengali-UTF8": "bn", "Indonesian-Latin1": "id",
           "Vietnamese-UTF8": "vi", "Korean_Hankuko-UTF8": "ko", "Japanese_Nihongo-UTF8": "ja",
           "Chinese_Mandarin-GB2312": "zh"}
HELDOUT_LINES = 12


def heldout_docs(shared: Path) -> list[tuple[str, str]]:
    lines: dict[str, list[str]] = defaultdict(list)
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["source"] == "udhr" and d["variant"] in HELDOUT:
                t = normalise_text(d["text"]).strip()
                if t:
                    lines[HELDOUT[d["variant"]]].append(t)
    return [(lang, "\n".join(ls[i:i + HELDOUT_LINES])) for lang, ls in sorted(lines.items())
            for i in range(0, len(ls), HELDOUT_LINES) if len(ls[i:i + HELDOUT_LINES]) >= HELDOUT_LINES // 2]


def heldout_junk(clean: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    """Junk in each held-out language, from its own words: keyword lists, repeated-line spam,
    navigation menus, link lists and symbol soup (10 of each kind per language)."""
    out = []
    by_lang: dict[str, list[str]] = defaultdict(list)
    for lang, text in clean:
        by_lang[lang] += [w.strip(".,;:()«»\"") for w in text.split() if len(w) > 1]
    for _lang, words in sorted(by_lang.items()):
        vocab = [w for w in words if w] or ["x"]
        w = lambda k, vocab=vocab: " ".join(rng.choice(vocab) for _ in range(k))  # noqa: E731
        for _ in range(10):
            out.append(("keyword_list", ", ".join(w(1) for _ in range(rng.randint(60, 200)))))
            spam = w(rng.randint(5, 9)) + "!"
            out.append(("repeated_lines", "\n".join([spam] * rng.randint(15, 40) + [w(30) + "."])))
            out.append(("menu", "\n".join(f"{w(rng.randint(1, 2))} | {w(1)} | {w(1)}"
                                          for _ in range(rng.randint(15, 40)))))
            out.append(("link_list", "\n".join(f"» {w(rng.randint(1, 3))}" for _ in range(rng.randint(20, 60)))))
            out.append(("symbol_soup", " ".join(rng.choice(["###", "#", "...", "…", "$$", "%%", "|", "@@", w(1)])
                                                for _ in range(rng.randint(100, 300)))))
    return out


def _table(title, decide, clean, junk) -> dict:
    kept = defaultdict(lambda: [0, 0])
    why = defaultdict(lambda: defaultdict(int))
    for lang, text in clean:
        r = decide(text)
        kept[lang][0] += r is None
        kept[lang][1] += 1
        if r:
            why[lang][r] += 1
    rejected = defaultdict(lambda: [0, 0])
    for kind, text in junk:
        r = decide(text)
        rejected[kind][0] += r is not None
        rejected[kind][1] += 1
    print(f"{title}: clean kept (default config), {len(clean)} documents:")
    for lang, (k, n) in sorted(kept.items()):
        extra = f"   rejected: {dict(why[lang])}" if k < n else ""
        print(f"  {lang:<8} {k:>3}/{n:<3} {100 * k / n:5.1f} %{extra}")
    total_k = sum(k for k, _n in kept.values())
    print(f"  all      {total_k}/{len(clean)} {100 * total_k / len(clean):5.1f} %")
    print(f"{title}: junk rejected, {len(junk)} documents:")
    for kind, (k, n) in sorted(rejected.items()):
        print(f"  {kind:<15} {k:>3}/{n:<3} {100 * k / n:5.1f} %")
    total_r = sum(k for k, _n in rejected.values())
    print(f"  all             {total_r}/{len(junk)} {100 * total_r / len(junk):5.1f} %")
    return {"clean_kept": dict(kept), "junk_rejected": dict(rejected)}


def main():
    ap = benchmark_parser(__doc__)
    ap.add_argument("--datatrove-python", help="python of an environment with datatrove (see "
                    "benchmarks/peers/datatrove_gopher.py): adds agreement on English and datatrove's throughput")
    args = ap.parse_args()
    shared = Path(args.shared)
    cfg = RunConfig().quality
    thresholds = cfg.thresholds.model_dump()
    disabled = set(cfg.disabled_rules)
    ident = LanguageIdentifier()
    clean = clean_docs(shared)
    junk = junk_docs(shared, random.Random(3))

    def decide(text):
        lang = ident.identify(text).lang
        hit = apply_rules(quality_signals(text, lang), cfg.rules,
                          thresholds_for(lang, thresholds, cfg.per_language, cfg.fitted_per_language), disabled)
        return hit[0].value if hit else None

    kept = defaultdict(lambda: [0, 0])
    why = defaultdict(lambda: defaultdict(int))
    for lang, text in clean:
        r = decide(text)
        kept[lang][0] += r is None
        kept[lang][1] += 1
        if r:
            why[lang][r] += 1
    rejected = defaultdict(lambda: [0, 0])
    for kind, text in junk:
        r = decide(text)
        rejected[kind][0] += r is not None
        rejected[kind][1] += 1
    hc = heldout_docs(shared)
    heldout = _table("untouched set (legacy udhr transcriptions + junk in their languages)", decide, hc,
                     heldout_junk(hc, random.Random(11)))
    texts = [t for _l, t in clean] + [t for _k, t in junk]
    langs = [ident.identify(t).lang for t in texts]  # as DetectLanguage hands them to ScoreQuality
    nbytes = sum(len(t.encode()) for t in texts)
    quality_signals("warm up: the compiled kernel loads once per process", "en")
    _docs, mbs = rate(lambda: [quality_signals(t, lang) for t, lang in zip(texts, langs, strict=True)] and len(texts),
                      nbytes, 3.0)
    print(f"clean prose kept (default config), {len(clean)} documents:")
    total_k = sum(k for k, _n in kept.values())
    for lang, (k, n) in sorted(kept.items()):
        extra = f"   rejected: {dict(why[lang])}" if k < n else ""
        print(f"  {lang:<8} {k:>3}/{n:<3} {100 * k / n:5.1f} %{extra}")
    print(f"  all      {total_k}/{len(clean)} {100 * total_k / len(clean):5.1f} %")
    print(f"junk rejected, {len(junk)} documents:")
    total_r = sum(k for k, _n in rejected.values())
    for kind, (k, n) in sorted(rejected.items()):
        print(f"  {kind:<15} {k:>3}/{n:<3} {100 * k / n:5.1f} %")
    print(f"  all             {total_r}/{len(junk)} {100 * total_r / len(junk):5.1f} %")
    print(f"signals throughput, one core (every signal, each document's detected language): {mbs:.1f} MB/s "
          f"over {nbytes / 1e6:.1f} MB")
    result = {"clean_kept": dict(kept), "junk_rejected": dict(rejected), "signals_mb_s": mbs, "untouched": heldout}
    if args.datatrove_python:
        result["datatrove"] = compare_datatrove(args.datatrove_python, english_docs(shared, junk), cfg, ident)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def english_docs(shared: Path, junk) -> list[tuple[str, str]]:
    """English documents for the agreement check: UDHR English in pieces of 300-3,000 characters, the
    SPDX licence texts (real English legal prose of every length) and the generated junk."""
    docs = []
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
        lines = [json.loads(line)["text"].strip() for line in fh
                 if '"variant": "eng"' in line]
    rng = random.Random(5)
    i = 0
    while i < len(lines):
        k = rng.randint(2, 25)
        docs.append((f"udhr-{i}", "\n".join(lines[i:i + k])))
        i += k
    with open(shared / "spdx-licenses" / "data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append((f"spdx-{d['spdx_id']}", d["text"].lstrip("\ufeff")))
    docs += [(f"junk-{n}-{kind}", text) for n, (kind, text) in enumerate(junk)]
    return docs


def compare_datatrove(python: str, docs, cfg, ident) -> dict:
    import subprocess
    import tempfile

    from benchmarks._timing import rate

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for doc_id, text in docs:
            f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    script = Path(__file__).resolve().parent / "peers" / "datatrove_gopher.py"
    out = subprocess.run([python, str(script), f.name], capture_output=True, text=True, check=True)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    gopher = ["gopher_quality", "gopher_repetition"]
    thresholds = cfg.thresholds.model_dump()
    ours = {doc_id: apply_rules(quality_signals(text, "en"), gopher, thresholds, set()) is None
            for doc_id, text in docs}
    agree = sum(ours[d] == theirs["decisions"][d] for d, _t in docs) / len(docs)
    nbytes = sum(len(t.encode()) for _d, t in docs)
    _n, our_mbs = rate(lambda: [apply_rules(quality_signals(t, "en"), gopher, thresholds, set()) for _d, t in docs]
                       and len(docs), nbytes)
    both_keep = sum(ours[d] and theirs["decisions"][d] for d, _t in docs)
    print(f"agreement with datatrove Gopher quality+repetition on {len(docs)} English documents: {100 * agree:.1f} % "
          f"(both keep {both_keep}, "
          f"refinery-only keep {sum(ours[d] and not theirs['decisions'][d] for d, _t in docs)}, "
          f"datatrove-only keep {sum(theirs['decisions'][d] and not ours[d] for d, _t in docs)})")
    print(f"throughput, same documents, one core: refinery Gopher signals+rules {our_mbs:.2f} MB/s, "
          f"datatrove Gopher filters {theirs['mb_s']:.2f} MB/s ({our_mbs / theirs['mb_s']:.1f}x)")
    return {"agreement": agree, "refinery_mb_s": our_mbs, "datatrove_mb_s": theirs["mb_s"], "n": len(docs)}


if __name__ == "__main__":
    main()
