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
- each command's peak resident memory, to compare across release sizes (it should not grow): the
  command's own high-water mark (``VmHWM``), read in the command's process. (``ru_maxrss``, which
  ``benchmarks._measure`` reports, is not used: Linux carries the parent's peak over ``exec``, so a
  command started from this script, which generated a 200 MB corpus in-process, would report this
  script's memory.)

With both sizes, it also diffs the first release against the last one: their doc_ids differ (the
corpora lie in different folders), so every record is added or removed, and equal texts are moves.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import benchmark_parser
from benchmarks.run import ROOT, corpus_dir, run_refinery

# (allocation, --min-per-stratum, --max-share-gap: None = the default, not passed)
ALLOCATIONS = (("proportional", 1, None), ("proportional", 1, "none"), ("proportional", 0, None), ("equal", 0, None))

# The command in a fresh process; prints its exit status and own peak RSS (VmHWM, reset by exec).
_CHILD = """\
import json, resource, sys
from refinery.pipelines.cli import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"exit": code, "peak_rss_mb": round(peak / 1024, 1)}))
"""


def measure(argv: list[str]) -> dict:
    """Run a refinery command in a fresh process; its wall time and peak memory."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if res.returncode != 0:
        raise SystemExit(f"refinery {' '.join(argv)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    return {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": mem["peak_rss_mb"]}


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
            "strata_under_one_record": under_one,
            "strata_not_sampled": sum(1 for s in strata if not s["sample_rows"])}


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
    ap.add_argument("--tag", default="", help="suffix of the sample and diff folders (before/after runs)")
    ap.add_argument("--without-max-share-gap", action="store_true",
                    help="for a refinery from before --max-share-gap (before/after comparisons): skip that variant")
    args = ap.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    results = []
    variants = [v for v in ALLOCATIONS if not (args.without_max_share_gap and v[2] is not None)]
    releases = []
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
        for alloc, minimum, gap in variants:
            print(f"[{mb:g} MB] sample, {alloc}, min {minimum}, gap {gap} ...", file=sys.stderr, flush=True)
            name = _variant(alloc, minimum, gap)
            dest = work / f"sample-{mb:g}mb-{name}{args.tag}"
            run = measure(["sample", str(out), "--n", str(args.n), "--by", args.by, "--seed", str(args.seed),
                           "--allocation", alloc, "--min-per-stratum", str(minimum), "--output", str(dest),
                           "--overwrite", "--json", *(["--max-share-gap", gap] if gap is not None else [])])
            run.update(share_gaps(json.loads((dest / "manifest.json").read_text())))
            run["share_of_refine_pct"] = round(100 * run["seconds"] / refine["seconds"], 2)
            entry[f"sample_{name}"] = run
        print(f"[{mb:g} MB] diff (release against itself) ...", file=sys.stderr, flush=True)
        entry["diff"] = measure(["diff", str(out), str(out), "--output", str(work / f"diff-{mb:g}mb{args.tag}"),
                                 "--overwrite", "--json"])
        entry["diff"]["share_of_refine_pct"] = round(100 * entry["diff"]["seconds"] / refine["seconds"], 2)
        results.append(entry)
        releases.append((mb, out))
        report(results, variants, args)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    if len(releases) > 1:
        (a, out_a), (b, out_b) = releases[0], releases[-1]
        print(f"diff {a:g} MB -> {b:g} MB ...", file=sys.stderr, flush=True)
        cross = measure(["diff", str(out_a), str(out_b), "--output", str(work / f"diff-{a:g}-{b:g}mb{args.tag}"),
                         "--overwrite", "--json"])
        s = json.loads((work / f"diff-{a:g}-{b:g}mb{args.tag}" / "summary.json").read_text())
        cross.update({"counts": s["counts"], "moved": s["moved"], "to_label_rows": s["to_label_rows"]})
        print(f"diff {a:g} MB -> {b:g} MB: {cross['seconds']:.2f} s, cpu {cross['cpu_seconds']:.2f} s, "
              f"peak {cross['peak_rss_mb']:,.0f} MB; "
              f"{s['counts']['added']:,} added, {s['counts']['removed']:,} removed, {s['moved']} moved, "
              f"{s['to_label_rows']:,} to label")
        results.append({"cross_diff": [a, b], **cross})
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


def _variant(alloc: str, minimum: int, gap: str | None) -> str:
    return f"{alloc}-min{minimum}" + (f"-gap{gap}" if gap is not None else "")


def report(results: list[dict], variants, args) -> None:
    print(f"\n== refinery sample --n {args.n} --by {args.by} (fresh process each; machine shared: noisy) ==")
    print(f"{'MB':>5} {'refined':>8} {'refine s':>9} {'alloc':>21} {'strata':>6} {'sample s':>8} {'cpu s':>6} "
          f"{'% refine':>8} {'peak MB':>8} {'gap vs release pp':>17} {'gap vs target pp':>16} {'strata < 1 rec':>14} "
          f"{'not sampled':>11}")
    print("(gap vs release: proportional, largest |sample share - release share|; equal: largest gap from an "
          "equal share among strata not capped by their size. strata < 1 rec: strata whose proportional share "
          "of the sample is under one record, which a minimum per stratum raises; not sampled: strata with no "
          "record in the sample)")
    for e in results:
        for alloc, minimum, max_gap in variants:
            s = e[f"sample_{_variant(alloc, minimum, max_gap)}"]
            gap = s["max_gap_vs_release_pp"] if alloc == "proportional" else s["max_gap_equal_pp"]
            name = f"{alloc[:4]}, min {minimum}" + (f" gap {max_gap}" if max_gap is not None else "")
            print(f"{e['mb']:>5g} {e['refined_rows']:>8,} {e['refine']['seconds']:>9.1f} {name:>21} {s['strata']:>6} "
                  f"{s['seconds']:>8.2f} {s['cpu_seconds']:>6.2f} {s['share_of_refine_pct']:>7.2f}% "
                  f"{s['peak_rss_mb']:>8,.0f} {gap:>17.3f} {s['max_gap_vs_target_pp']:>16.3f} "
                  f"{s['strata_under_one_record']:>14} {s['strata_not_sampled']:>11}")
        d = e["diff"]
        print(f"{e['mb']:>5g} diff against itself: {d['seconds']:.2f} s, cpu {d['cpu_seconds']:.2f} s "
              f"({d['share_of_refine_pct']:.2f}% of refine), "
              f"peak {d['peak_rss_mb']:,.0f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
