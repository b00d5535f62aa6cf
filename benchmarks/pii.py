"""PII pass benchmark: microseconds per document, on real corpora and on a number-dense one.

    python -m benchmarks.pii [--corpus DIR_OR_GLOB ...] [--json out.json]

Corpora: the sample corpus (``examples/sample/*``, read through ingest, so records carry their
``meta`` and ``original_id``), any ``--corpus`` given (e.g. a ``benchmarks.corpus`` output folder),
and ``numbers``: 2,000 generated English paragraphs dense in what looks like a phone number but
mostly is not (dates, prices, ISBNs, version numbers, year ranges, order numbers), a tenth of them
with a real phone, e-mail or SSN — the worst case for the phone grammar, which only runs where a
digit-run hint fires.

Timed per document on the process's CPU clock (steady on a shared machine), repeated for at
least two CPU seconds:

- ``text``: detection and redaction of the text alone (what the quality stage did before);
- ``record``: the whole ingest pass (text, ``meta``, ``original_id``), where this version has one.
"""

from __future__ import annotations

import glob
import json
import random
import time
from pathlib import Path

from benchmarks._timing import benchmark_parser
from refinery.pipelines.config import RunConfig
from refinery.transforms import pii
from refinery.transforms.ingest import local_opener, read_crude

ROOT = Path(__file__).resolve().parent.parent


def _records(patterns: list[str]) -> list[dict]:
    cfg = RunConfig().ingest
    out = []
    for pat in patterns:
        for path in sorted(glob.glob(pat)):
            if path.endswith(".json"):
                continue
            for kind, item in read_crude(path, cfg, local_opener):
                if kind == "record":
                    out.append(item)
    return out


def numbers_corpus(n: int = 2000, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    filler = ("The committee met again and reviewed the figures for the quarter, noting that the "
              "numbers were broadly in line with the forecast published earlier.")
    decoys = [lambda: f"on {rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
              lambda: (f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}"
                       f"-{rng.randint(0, 9)}"),
              lambda: f"${rng.randint(1, 999)},{rng.randint(100, 999)}.{rng.randint(10, 99)}",
              lambda: f"version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
              lambda: f"from {rng.randint(1900, 2000)}-{rng.randint(2001, 2030)}",
              lambda: f"order {rng.randint(10**9, 10**10)}",
              lambda: f"pp. {rng.randint(1, 400)}-{rng.randint(401, 900)}",
              lambda: (f"{rng.randint(1, 23):02d}:{rng.randint(0, 59):02d} to "
                       f"{rng.randint(1, 23):02d}:{rng.randint(0, 59):02d}")]
    real = [lambda: f"call {rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            lambda: f"write to person{rng.randint(1, 999)}@example.org",
            lambda: f"SSN {rng.randint(100, 599)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            lambda: f"+44 20 7946 {rng.randint(1000, 9999)}"]
    docs = []
    for i in range(n):
        parts = [filler]
        for _ in range(rng.randint(2, 8)):
            parts.append(rng.choice(decoys)() + ".")
        if i % 10 == 0:
            parts.append(rng.choice(real)() + ".")
        docs.append({"doc_id": str(i), "text": " ".join(parts), "original_id": f"doc-{i}", "meta": None,
                     "n_chars": 0})
    return docs


def _cpu_rate(run_once, nbytes: int, min_seconds: float = 2.0) -> tuple[float, float]:
    """Like ``benchmarks._timing.rate`` but on this process's CPU clock: the figure does not move when
    other processes share the cores."""
    t0 = time.process_time()
    reps = items = 0
    while True:
        items += run_once()
        reps += 1
        elapsed = time.process_time() - t0
        if elapsed >= min_seconds:
            return items / elapsed, reps * nbytes / elapsed / 1e6


def _time(records: list[dict]) -> dict:
    texts = [r["text"] for r in records]
    kinds = set(pii.PLACEHOLDER)
    nbytes = sum(len(t.encode()) for t in texts)

    def text_pass():
        for t in texts:
            spans = pii.find_pii(t)
            pii.count_kinds(spans)
            pii.redact(t, spans, kinds)
        return len(texts)

    docs_s, mb_s = _cpu_rate(text_pass, nbytes)
    out = {"docs": len(texts), "text_us_per_doc": round(1e6 / docs_s, 2), "text_mb_s": round(mb_s, 2)}
    scrubber_cls = getattr(pii, "PiiScrubber", None)
    if scrubber_cls is not None:
        scrub = scrubber_cls.from_config(RunConfig())

        def record_pass():
            for r in records:
                scrub.record(dict(r))
            return len(records)

        docs_s, mb_s = _cpu_rate(record_pass, nbytes)
        out.update(record_us_per_doc=round(1e6 / docs_s, 2), record_mb_s=round(mb_s, 2))
    found = {}
    for t in texts:
        for _s, _e, k in pii.find_pii(t):
            found[k] = found.get(k, 0) + 1
    out["spans_found"] = dict(sorted(found.items()))
    return out


def main(argv=None):
    ap = benchmark_parser(__doc__)
    ap.add_argument("--corpus", action="append", default=[], help="a folder of JSONL shards or a glob")
    args = ap.parse_args(argv)
    results = {"sample": _time(_records([str(ROOT / "examples" / "sample" / "*")]))}
    for c in args.corpus:
        pat = str(Path(c) / "*.jsonl") if Path(c).is_dir() else c
        results[Path(c).name or c] = _time(_records([pat]))
    results["numbers"] = _time(numbers_corpus())
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
