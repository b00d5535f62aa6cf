"""Licence benchmark: SPDX full-text and header identification, metadata normalisation, copyright
statement extraction, throughput on ordinary prose and on notice-heavy text.

    python -m benchmarks.licence [--shared ../shared/data] [--json out.json]

- SPDX texts: every non-deprecated licence of ../shared/data/spdx-licenses (placeholder texts
  skipped), whole and its first 20 lines. Top-1 strict = the exact id; top-1 by text = an id whose
  licence text is word-for-word the same (the SPDX list has 16 such groups, e.g. GPL-3.0-only and
  GPL-3.0-or-later share one text: no text can tell them apart).
- Metadata: benchmarks/data/licence_metadata.json (dataset-card, GitHub, README and Chinese spellings).
- Licence in files: benchmarks/data/licence_files.json (source headers, licence files, README and web
  notices, five without a licence); a document counts once: right licence, wrong/extra, or missed.
- Copyright: benchmarks/data/copyright_notices.json; precision / recall / F1 over extracted statements.
- Throughput: ordinary prose (UDHR, 3,000-character chunks) and notice-heavy text (200 SPDX licence
  texts) through ``analyse``, in MB per CPU second, in alternating pairs (the machine may be shared).

These sets were written alongside the code; the held-out figures are ``python -m benchmarks.licence_heldout``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from benchmarks._timing import benchmark_parser, rate
from refinery.pipelines.config import LicenceConfig
from refinery.transforms.licence import (
    LicenceIndex,
    analyse,
    find_copyrights,
    licence_normal,
    licences_in_text,
    normalise_licence,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def spdx_accuracy(shared: Path, index: LicenceIndex):
    with open(shared / "spdx-licenses" / "data.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = [r for r in rows if not r["is_deprecated"] and not r["text"].lstrip("\ufeff").lower().startswith("insert")]
    same_text = defaultdict(set)
    for r in rows:
        same_text[licence_normal(r["text"])].add(r["spdx_id"])
    cls = {r["spdx_id"]: same_text[licence_normal(r["text"])] for r in rows}
    res = {}
    for form in ("full", "first 20 lines"):
        strict = by_text = found = 0
        for r in rows:
            text = r["text"].lstrip("\ufeff")
            if form != "full":
                text = "\n".join(text.splitlines()[:20])
            got = licences_in_text(text, index)
            pred = got[0].spdx if got else None
            found += pred is not None
            strict += pred == r["spdx_id"]
            by_text += pred in cls[r["spdx_id"]]
        n = len(rows)
        res[form] = {"n": n, "top1_strict": strict / n, "top1_by_text": by_text / n, "found": found / n}
    return res


def metadata_accuracy():
    cases = json.loads((DATA / "licence_metadata.json").read_text("utf-8"))["cases"]
    wrong = [(raw, want, normalise_licence(raw)) for raw, want in cases if normalise_licence(raw) != want]
    return 1 - len(wrong) / len(cases), len(cases), wrong


def licence_files_prf(index):
    """Documents with a licence found right (TP), wrong or where there is none (FP), or missed (FN)."""
    cases = json.loads((DATA / "licence_files.json").read_text("utf-8"))["cases"]
    tp = fp = fn = 0
    misses = []
    for text, want in cases:
        found = licences_in_text(text, index)
        got = found[0].spdx if len(found) == 1 else (" AND ".join(sorted(f.spdx for f in found)) if found else None)
        if got == want and want is not None:
            tp += 1
        else:
            fp += got is not None
            fn += want is not None
            if got != want:
                misses.append((text[:60], got, want))
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    return p, r, 2 * p * r / max(1e-9, p + r), misses, len(cases)


def copyright_prf():
    cases = json.loads((DATA / "copyright_notices.json").read_text("utf-8"))["cases"]
    tp = fp = fn = 0
    misses = []
    for text, want in cases:
        got, _holders, _r = find_copyrights(text)
        g, w = set(got), set(want)
        tp += len(g & w)
        fp += len(g - w)
        fn += len(w - g)
        if g != w:
            misses.append((text, sorted(g), sorted(w)))
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    return p, r, 2 * p * r / max(1e-9, p + r), misses


def throughput(texts, index):
    cfg = LicenceConfig()
    return rate(lambda: [analyse(t, None, cfg, index) for t in texts] and len(texts),
                sum(len(t.encode()) for t in texts))[1]


def cpu_rate(texts, index, min_seconds: float = 1.0) -> float:
    """MB per CPU second of this process (the machine is shared: wall-clock rates drift with its load)."""
    cfg = LicenceConfig()
    nbytes = sum(len(t.encode()) for t in texts)
    t0 = time.process_time()
    reps = 0
    while True:
        for t in texts:
            analyse(t, None, cfg, index)
        reps += 1
        dt = time.process_time() - t0
        if dt >= min_seconds:
            return reps * nbytes / dt / 1e6


def paired_rates(prose, notices, index, pairs: int = 3) -> tuple[list[float], list[float]]:
    """Prose and notice-heavy rates measured in alternating pairs (prose, notices, prose, ...)."""
    a, b = [], []
    for _ in range(pairs):
        a.append(cpu_rate(prose, index))
        b.append(cpu_rate(notices, index))
    return a, b


def main():
    ap = benchmark_parser(__doc__)
    args = ap.parse_args()
    shared = Path(args.shared)
    index = LicenceIndex.load()
    spdx = spdx_accuracy(shared, index)
    meta_acc, meta_n, meta_wrong = metadata_accuracy()
    p, r, f1, misses = copyright_prf()
    lp, lr, lf1, lmisses, ln = licence_files_prf(index)
    prose = []
    with open(shared / "udhr" / "docs.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            t = d["text"]
            prose += [t[i:i + 3000] for i in range(0, len(t), 3000)]
    with open(shared / "spdx-licenses" / "data.jsonl", encoding="utf-8") as fh:
        notices = [json.loads(line)["text"] for line in fh][:200]
    analyse("warm-up: licensed under the MIT license", None, LicenceConfig(), index)  # loads the knowledge base
    prose_rates, notice_rates = paired_rates(prose, notices, index)
    mb_prose, mb_notice = statistics.median(prose_rates), statistics.median(notice_rates)
    print("SPDX licence texts (top-1):")
    for form, v in spdx.items():
        print(f"  {form:<15} strict {100 * v['top1_strict']:5.1f} %   "
              f"same-text class {100 * v['top1_by_text']:5.1f} %   "
              f"(n={v['n']}, something found {100 * v['found']:.1f} %)")
    print(f"metadata strings -> SPDX: {100 * meta_acc:.1f} % of {meta_n}")
    for raw, want, got in meta_wrong:
        print(f"    {raw!r}: want {want}, got {got}")
    print(f"licence in source/notice files ({ln}): precision {lp:.3f}  recall {lr:.3f}  F1 {lf1:.3f}")
    for text, got, want in lmisses:
        print(f"    {text!r}: got {got} want {want}")
    print(f"copyright statements: precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}")
    for text, got, want in misses:
        print(f"    {text[:60]!r}: got {got} want {want}")
    print(f"throughput, one core (MB per CPU second, median of 3 alternating pairs): "
          f"ordinary prose {mb_prose:.1f} MB/s "
          f"{[round(x, 1) for x in prose_rates]}; notice-heavy (SPDX texts) {mb_notice:.1f} MB/s "
          f"{[round(x, 1) for x in notice_rates]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"spdx": spdx, "metadata_accuracy": meta_acc, "copyright_f1": f1,
                                               "copyright_precision": p, "copyright_recall": r, "licence_files_f1": lf1,
                                               "prose_mb_s": mb_prose, "notice_mb_s": mb_notice}, indent=1))


if __name__ == "__main__":
    main()
