"""Dedup benchmark: recall / false removals against exact-Jaccard ground truth, signature
throughput next to datasketch, end-to-end wall time and peak memory at several corpus sizes.

    python -m benchmarks.dedup [--sizes 10000,100000] [--runner FlinkRunner --workers 2] [--json out.json]

Corpus (deterministic): distinct base documents — classical Chinese poems (cjk-poetry.jsonl, ~400
characters each) and UDHR paragraphs in Latin/Cyrillic languages (~1,000 characters) — plus, per
family, injected copies: exact copies, re-formatted copies, near copies at token edit rates of 1-25 %
(so true Jaccard spans both sides of 0.8), and chains (each link edits the previous one).
Ground truth: exact Jaccard of the shingle sets (same shingling as the pipeline, of the text as ingest
leaves it: NFC, control characters removed) for every pair inside a family; families share no text,
so cross-family pairs are not duplicates.

Recall = ground-truth pairs at J ≥ 0.8 whose two records end in the same cluster. False removal =
a removed record that has no partner at J ≥ 0.8 anywhere; chain false removal = a removed record whose
exact Jaccard to the record it names (dup_of) is below 0.8. "Without chain-safety" is the transitive
rule (every member of a component but its best-ranked record removed, naming it), worked out from the
same run's dup_cluster_id.

``--chains N --chain-length L --seed S``: also N families that are long edit chains (each link edits
the previous one at --chain-rate), the case chain-safety is for; use another --seed than 11 for a set
the code was not developed on.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import benchmark_parser
from refinery.transforms.dedup import dedup_normalise
from refinery.transforms.minhash import jaccard_sets, minhash_batch, shingle_hashes
from refinery.transforms.text import normalise_text

ROOT = Path(__file__).resolve().parent.parent


def base_documents(shared: Path, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """n distinct (kind, text) bases, about half CJK.

    First the natural ones (whole poems joined to ~400 characters; UDHR paragraphs joined to ~1,000
    characters), ~15,000 of them; beyond that, composed ones: ~400 characters of poem lines drawn at
    random from all ~500,000 lines, or 6-12 UDHR paragraphs drawn at random from all of them. Two
    composed bases share a line or paragraph now and then, but reaching Jaccard 0.8 would take most of
    them, so families stay apart."""
    cjk, latin = [], []
    with open(shared / "cjk-poetry.jsonl", encoding="utf-8") as fh:
        poems = [json.loads(line)["text"] for line in fh]
    buf = []
    for text in poems:
        buf.append(text)
        if sum(map(len, buf)) >= 400:
            cjk.append("".join(buf))
            buf = []
    paras = []
    with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if len(d["text"]) > 60 and d.get("script", "") == "" and d["lang"][:3] not in ("cmn", "jpn", "kor"):
                paras.append(d["text"])
    rng.shuffle(paras)
    i = 0
    while len(latin) < n and i < len(paras):
        doc = []
        while sum(map(len, doc)) < 1000 and i < len(paras):
            doc.append(paras[i])
            i += 1
        latin.append("\n".join(doc))
    half = n // 2
    cjk, latin = cjk[:half], latin[: n - half]
    if len(cjk) < half:
        lines = [ln for p in poems for ln in p.split("\n") if len(ln) >= 5]
        while len(cjk) < half:
            doc = []
            while sum(map(len, doc)) < 400:
                doc.append(rng.choice(lines))
            cjk.append("\n".join(doc))
    if len(latin) < n - half:
        # drawn from all ~35,000 paragraphs (not one language's few dozen: bases of one small pool
        # share most paragraphs often enough to chain whole languages into one cluster)
        while len(latin) < n - half:
            latin.append("\n".join(rng.sample(paras, rng.randint(6, 12))))
    bases = [("cjk", t) for t in cjk] + [("latin", t) for t in latin]
    # UDHR is parallel text with repeated boilerplate lines; make every base unique by a serial tag
    return [(k, f"{t}\n#{j:07d}") for j, (k, t) in enumerate(bases)]


def edit(text: str, rate: float, rng: random.Random, cjk: bool) -> str:
    if cjk:
        chars = list(text)
        for i in rng.sample(range(len(chars)), max(1, int(rate * len(chars)))):
            chars[i] = rng.choice("的一是不了人我在有他这为之大来以个中上们")
        return "".join(chars)
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(rate * len(words)))):
        words[i] = rng.choice(["lorem", "ipsum", "dolor", "amet", "sit", "consectetur", "elit"])
    return " ".join(words)


def make_corpus(shared: Path, n_docs: int, seed: int = 11, chains: int = 0, chain_length: int = 12,
                chain_rate: float = 0.03):
    rng = random.Random(seed)
    n_bases = int(n_docs / 1.6)
    bases = base_documents(shared, n_bases, rng)
    docs, family = [], []
    for fam, (kind, text) in enumerate(bases):
        docs.append(text)
        family.append(fam)
        r = rng.random()
        if r < 0.15:
            docs.append(text)  # exact copy
            family.append(fam)
        elif r < 0.25:
            docs.append("  " + text.replace("\n", "\n\n") + " ")  # re-formatted
            family.append(fam)
        elif r < 0.55:
            docs.append(edit(text, rng.choice([0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.25]), rng, kind == "cjk"))
            family.append(fam)
        elif r < 0.62:
            cur = text
            for _ in range(3):  # chain
                cur = edit(cur, 0.03, rng, kind == "cjk")
                docs.append(cur)
                family.append(fam)
        if fam < chains:  # a long edit chain
            cur = text
            for _ in range(chain_length):
                cur = edit(cur, chain_rate, rng, kind == "cjk")
                docs.append(cur)
                family.append(fam)
        if len(docs) >= n_docs:
            break
    return docs[:n_docs], family[:n_docs], [bases[f][0] for f in family[:n_docs]]


def ground_truth(docs, family, threshold=0.8):
    # the text as ingest leaves it (NFC, control characters removed: some UDHR texts carry C1 bytes)
    # is what the pipeline deduplicates and writes
    sets = [shingle_hashes(dedup_normalise(normalise_text(d)), 5, "auto") for d in docs]
    by_fam: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        by_fam.setdefault(f, []).append(i)
    pairs, has_partner = [], set()
    ground_truth.sets = sets
    for members in by_fam.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                if jaccard_sets(sets[i], sets[j]) >= threshold:
                    pairs.append((i, j))
                    has_partner.update((i, j))
    return pairs, has_partner


def signature_throughput(docs, seconds=3.0):
    """MB/s for Refinery's batched signatures and for datasketch's update_batch, same shingles."""
    from datasketch import MinHash

    from refinery.transforms.minhash import shingles

    norm = [dedup_normalise(d) for d in docs]
    nbytes = sum(len(d.encode()) for d in docs)
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < seconds:
        for k in range(0, len(norm), 256):
            minhash_batch([shingle_hashes(d, 5, "auto") for d in norm[k:k + 256]], 128, 1)
        reps += 1
    ours = reps * nbytes / (time.perf_counter() - t0) / 1e6
    # datasketch with its defaults (sha1_hash32 on the UTF-8 shingle), the common usage
    sample = norm[: max(50, len(norm) // 10)]
    sbytes = sum(len(d.encode()) for d in sample)
    t0 = time.perf_counter()
    for d in sample:
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([" ".join(s).encode() for s in shingles(d, 5, "auto")])
    ds = sbytes / (time.perf_counter() - t0) / 1e6
    return ours, ds


def run_pipeline(docs, workdir: Path, workers: int, runner: str = "DirectRunner"):
    """``refinery run`` (ingest, dedup, write: the other stages off) on the corpus, every process of it
    sampled: (output folder, wall s, {label: [peak RSS MB, largest first]})."""
    from benchmarks.engines import peaks_by_label
    from benchmarks.run import run_sampled, runner_args

    src = workdir / "corpus.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"id": str(i), "text": d}, ensure_ascii=False) + "\n")
    out = workdir / f"out-{workers}"
    cmd = [sys.executable, "-m", "benchmarks._measure", "--", "run", "--input", str(src), "--output", str(out),
           "--overwrite", "--quiet"] + [a for stage in ("language", "licence", "quality", "validation")
                                        for a in ("--set", f"{stage}.enabled=false")] + runner_args(runner, workers)
    t0 = time.perf_counter()
    res, processes = run_sampled(cmd)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        killed = f" (killed by signal {-res.returncode}: out of memory?)" if res.returncode < 0 else ""
        raise SystemExit(f"pipeline failed ({res.returncode}){killed}: {res.stderr[-2000:]}")
    return out, wall, peaks_by_label({"processes": processes})


def evaluate(out: Path, docs, family, kinds, pairs, has_partner):
    from refinery.arrow_io import read_output

    cluster = {}
    removed = {}
    index_of = {}
    for kind in ("refined", "rejected"):
        t = read_output(str(out / kind), columns=["original_id", "doc_id", "dup_cluster_id", "dup_of"]).to_pylist()
        for r in t:
            i = int(r["original_id"])
            index_of[r["doc_id"]] = i
            cluster[i] = r["dup_cluster_id"]
            if kind == "rejected" and r["dup_of"]:
                removed[i] = r["dup_of"]
    sets = ground_truth.sets
    doc_of = {i: d for d, i in index_of.items()}
    transitive = {i: c for i, c in cluster.items() if c is not None and c != doc_of[i]}
    res = {}
    for k in ("cjk", "latin"):
        kp = [(i, j) for i, j in pairs if kinds[i] == k]
        hit = sum(1 for i, j in kp if cluster.get(i) is not None and cluster.get(i) == cluster.get(j))
        n_k = sum(1 for x in kinds if x == k)
        false_rm = sum(1 for i in removed if kinds[i] == k and i not in has_partner)

        def below(named, k=k):
            return sum(1 for i, d in named.items() if kinds[i] == k
                       and jaccard_sets(sets[i], sets[index_of[d]]) < 0.8)
        t_removed = sum(1 for i in transitive if kinds[i] == k)
        res[k] = {"pairs": len(kp), "recall": hit / max(1, len(kp)),
                  "removed": sum(1 for i in removed if kinds[i] == k),
                  "false_removals": false_rm, "false_removal_rate": false_rm / max(1, n_k),
                  "chain_false_removals": below(removed),
                  "transitive_removed": t_removed, "transitive_chain_false_removals": below(transitive)}
    return res


def main():
    ap = benchmark_parser(__doc__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--workers", type=int, default=1,
                    help="DirectRunner: worker processes (1 = in-process); FlinkRunner / SparkRunner: parallelism")
    ap.add_argument("--runner", default="DirectRunner", choices=("DirectRunner", "FlinkRunner", "SparkRunner"))
    ap.add_argument("--work", default=None, help="folder for the corpus and the output (default: the system's)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--chains", type=int, default=0, help="families that are long edit chains")
    ap.add_argument("--chain-length", type=int, default=12)
    ap.add_argument("--chain-rate", type=float, default=0.03)
    args = ap.parse_args()
    shared = Path(args.shared)
    results = {"sizes": {}}
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        docs, family, kinds = make_corpus(shared, n, args.seed, args.chains, args.chain_length, args.chain_rate)
        if len(docs) != n:
            raise SystemExit(f"the generator made {len(docs):,} documents, not {n:,}")
        mb = sum(len(d.encode()) for d in docs) / 1e6
        print(f"\n== {len(docs):,} documents, {mb:,.1f} MB ({sum(1 for k in kinds if k == 'cjk'):,} CJK)", flush=True)
        if n == sizes[0]:
            ours, ds = signature_throughput(docs[:4000])
            results["signature_mb_s"] = {"refinery": ours, "datasketch_update_batch": ds}
            print(f"signatures, one core: refinery {ours:.1f} MB/s   datasketch.update_batch (sha1) {ds:.1f} MB/s "
                  f"  ({ours / ds:.1f}x)", flush=True)
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            # the pipeline first: the ground truth (~3.5 GB at 1M documents) is not held while it runs
            out, wall, peaks = run_pipeline(docs, Path(tmp), args.workers, args.runner)
            pairs, has_partner = ground_truth(docs, family)
            quality = evaluate(out, docs, family, kinds, pairs, has_partner)
        results["sizes"][n] = {"docs": len(docs), "mb": mb, "runner": args.runner, "workers": args.workers,
                               "wall_s": wall, "peak_rss_mb_by_process": peaks, "quality": quality}
        mem_note = "peak RSS (MB) per process: " + ", ".join(
            f"{label} {' / '.join(f'{v:,.0f}' for v in vals)}" for label, vals in sorted(peaks.items()))
        print(f"end to end (ingest + dedup + write, {args.runner}, {args.workers} worker(s)): {wall:,.1f} s, "
              f"{mb / wall:,.2f} MB/s; {mem_note}")
        for k, q in quality.items():
            print(f"  {k:<6} pairs at J>=0.8: {q['pairs']:>7,}  recall {q['recall']:.4f}   removed {q['removed']:>6,}  "
                  f"false removals {q['false_removals']} ({100 * q['false_removal_rate']:.3f} %)  "
                  f"J<0.8 to dup_of: {q['chain_false_removals']}   without chain-safety: removed "
                  f"{q['transitive_removed']:,}, J<0.8 to the kept record: {q['transitive_chain_false_removals']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
