"""Labelling commands on benchmark releases: stratum shares, cost next to the refine run, peak memory.

    python -m benchmarks.labelling --mb 50,200 --n 2000 --by lang,licence_category,source

For each size it refines the generated corpus of :mod:`benchmarks.corpus` exactly as
:mod:`benchmarks.run` does (``refinery run`` in a fresh process; reused from ``--work`` with
``--reuse`` when that release already exists, its time then read from the manifest), then runs
``refinery sample`` in a fresh process (proportional and equal allocation) and ``refinery diff`` of
the release against itself, and prints

- the sample's stratum shares: for proportional allocation the largest gap, in percentage points,
  between a stratum's share of the sample and of the release, and between the sample and the
  allocation's targets; for equal allocation the largest gap from an equal share;
- the sample's wall time next to the refine run's (the issue asks for less than 10 %);
- each command's peak resident memory, to compare across release sizes (it should not grow).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import benchmark_parser
from benchmarks.run import ROOT, corpus_dir, run_refinery


ALLOCATIONS = (("proportional", 1), ("proportional", 0), ("equal", 0))


def measure(argv: list[str]) -> dict:
    """Run a refinery command in a fresh process; its wall time and peak memory."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "benchmarks._measure", "--", *argv], capture_output=True,
                         text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"refinery {' '.join(argv)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    return {"seconds": round(wall, 2), "peak_rss_mb": mem["peak_rss_mb"]}


def share_gaps(manifest: dict) -> dict:
    strata = manifest["strata"]
    n = sum(s["sample_rows"] for s in strata) or 1
    targets = sum(s["target_rows"] for s in strata) or 1
    gap_release = max(abs(s["sample_share"] - s["release_share"]) for s in strata) * 100
    gap_target = max(abs(s["sample_rows"] / n - s["target_rows"] / targets) for s in strata) * 100
    uncapped = [s for s in strata if s["target_rows"] < s["release_rows"]]
    equal = (max(abs(s["sample_share"] - s["target_rows"] / targets) for s in uncapped) * 100) if uncapped else 0.0
    under_one = sum(1 for s in strata if s["release_share"] * n < 1)
    return {"strata": len(strata), "sample_rows": n, "max_gap_vs_release_pp": round(gap_release, 3),
            "max_gap_vs_target_pp": round(gap_target, 3), "max_gap_equal_pp": round(equal, 3),
            "strata_under_one_record": under_one}


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--mb", default="50,200", help="corpus sizes in MB, comma-separated (default 50,200)")
    ap.add_argument("--n", type=int, default=2000, help="sample size (default 2000)")
    ap.add_argument("--by", default="lang,licence_category,source",
                    help="strata (default lang,licence_category,source)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "refinery-bench"),
                    help="where corpora and outputs go (shared with benchmarks/run.py)")
    ap.add_argument("--reuse", action="store_true", help="reuse a succeeded release already in --work")
    args = ap.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    results = []
    for mb in [float(s) for s in args.mb.split(",")]:
        corpus, facts = corpus_dir(work, shared, mb)
        out = work / f"out-{mb:g}mb-1w"
        manifest = out / "reports" / "manifest.json"
        m = json.loads(manifest.read_text()) if manifest.exists() else {}
        if args.reuse and m.get("status") == "succeeded":
            refine = {"seconds": m["wall_seconds"], "what": "pipeline wall_seconds of the reused release",
                      "peak_rss_mb": None}
        else:
            print(f"[{mb:g} MB] refining ...", file=sys.stderr, flush=True)
            r = run_refinery(corpus, out, 1)
            refine = {"seconds": r["cli_seconds"], "what": "refinery run, CLI wall", "peak_rss_mb": r["peak_rss_mb"]}
            m = json.loads(manifest.read_text())
        entry = {"mb": mb, "docs": facts["docs"], "refined_rows": m["totals"]["refined"], "refine": refine}
        for alloc, minimum in ALLOCATIONS:
            print(f"[{mb:g} MB] sample, {alloc}, min {minimum} ...", file=sys.stderr, flush=True)
            dest = work / f"sample-{mb:g}mb-{alloc}-min{minimum}"
            run = measure(["sample", str(out), "--n", str(args.n), "--by", args.by, "--seed", str(args.seed),
                           "--allocation", alloc, "--min-per-stratum", str(minimum), "--output", str(dest),
                           "--overwrite", "--json"])
            run.update(share_gaps(json.loads((dest / "manifest.json").read_text())))
            run["share_of_refine_pct"] = round(100 * run["seconds"] / refine["seconds"], 2)
            entry[f"sample_{alloc}_min{minimum}"] = run
        print(f"[{mb:g} MB] diff (release against itself) ...", file=sys.stderr, flush=True)
        entry["diff"] = measure(["diff", str(out), str(out), "--output", str(work / f"diff-{mb:g}mb"),
                                 "--overwrite", "--json"])
        entry["diff"]["share_of_refine_pct"] = round(100 * entry["diff"]["seconds"] / refine["seconds"], 2)
        results.append(entry)
        report(results, args)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


def report(results: list[dict], args) -> None:
    print(f"\n== refinery sample --n {args.n} --by {args.by} (fresh process each; machine shared: noisy) ==")
    print(f"{'MB':>5} {'refined':>8} {'refine s':>9} {'alloc':>12} {'strata':>6} {'sample s':>8} {'% refine':>8} "
          f"{'peak MB':>8} {'gap vs release pp':>17} {'gap vs target pp':>16} {'strata < 1 rec':>14}")
    print("(gap vs release: proportional, largest |sample share - release share|; equal: largest gap from an "
          "equal share among strata not capped by their size. strata < 1 rec: strata whose proportional share "
          "of the sample is under one record, which a minimum per stratum raises)")
    for e in results:
        for alloc, minimum in ALLOCATIONS:
            s = e[f"sample_{alloc}_min{minimum}"]
            gap = s["max_gap_vs_release_pp"] if alloc == "proportional" else s["max_gap_equal_pp"]
            name = f"{alloc[:4]}, min {minimum}"
            print(f"{e['mb']:>5g} {e['refined_rows']:>8,} {e['refine']['seconds']:>9.1f} {name:>12} {s['strata']:>6} "
                  f"{s['seconds']:>8.2f} {s['share_of_refine_pct']:>7.2f}% {s['peak_rss_mb']:>8,.0f} "
                  f"{gap:>17.3f} {s['max_gap_vs_target_pp']:>16.3f} {s['strata_under_one_record']:>14}")
        d = e["diff"]
        print(f"{e['mb']:>5g} diff against itself: {d['seconds']:.2f} s ({d['share_of_refine_pct']:.2f}% of refine), "
              f"peak {d['peak_rss_mb']:,.0f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
