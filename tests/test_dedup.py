"""Dedup: datasketch equivalence, shingling per script, exact/near/chains, components, determinism."""

import json
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from datasketch import MinHash

from refinery.pipelines.config import load_config
from refinery.transforms.beam.dedup import DedupNearDuplicates
from refinery.transforms.dedup import (
    band_digests,
    candidate_pairs,
    content_hash,
    dedup_normalise,
    fold_traditional,
    has_shingles,
    lsh_params,
    rank_key,
    star_rounds_reference,
)
from refinery.transforms.minhash import minhash_batch, shingle_hash32, shingle_hashes, shingles

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()
HAN = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈"


def read_jsonl(paths) -> list:
    """The JSON lines of the files at ``paths``, in order."""
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


def _random_doc(rng):
    kind = rng.choice(["word", "han", "mixed"])
    if kind == "word":
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 80)))
    if kind == "han":
        return "".join(rng.choice(HAN) for _ in range(rng.randint(1, 120)))
    return " ".join(rng.choice(WORDS + list(HAN)) for _ in range(rng.randint(1, 60)))


@pytest.mark.parametrize("unit", ["auto", "word", "char"])
def test_signatures_equal_datasketch_on_random_documents(unit):
    rng = random.Random(42)
    docs = [dedup_normalise(_random_doc(rng)) for _ in range(60)]
    for num_perm, seed in ((128, 1), (64, 7)):
        sigs = minhash_batch([shingle_hashes(d, 5, unit) for d in docs], num_perm, seed)
        for doc, sig in zip(docs, sigs, strict=True):
            m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32)  # affine32, datasketch 2.x default
            m.update_batch(shingles(doc, 5, unit))
            assert m.scheme == "affine32"
            np.testing.assert_array_equal(m.hashvalues, sig)


def test_vectorised_shingle_hashes_equal_the_scalar_reference():
    rng = random.Random(3)
    for _ in range(30):
        doc = dedup_normalise(_random_doc(rng))
        ref = sorted({shingle_hash32(s) for s in shingles(doc, 5, "auto")})
        assert shingle_hashes(doc, 5, "auto").tolist() == ref


def test_cjk_text_is_shingled_by_character_not_as_one_word():
    text = "床前明月光疑是地上霜举头望明月低头思故乡"
    assert len(shingles(text, 5, "auto")) == len(text) - 4
    assert shingles(text, 5, "auto")[0] == tuple("床前明月光")
    # In word mode each Han character is still its own token, inside mixed text too.
    assert shingles("hello 世界 world", 2, "word") == [("hello", "世"), ("世", "界"), ("界", "world")]


def test_short_documents_have_one_shingle_of_all_tokens():
    assert shingles("two words", 5, "word") == [("two", "words")]
    assert shingles("", 5, "auto") == []


def test_normalisation_for_exact_hash():
    assert dedup_normalise("  Hello\n\tWORLD  ") == "hello world"
    assert dedup_normalise("ＡＢＣ") == "abc"  # NFKC
    assert content_hash(dedup_normalise("學習漢語")) == content_hash(dedup_normalise("学习汉语"))
    assert content_hash(dedup_normalise("學習漢語", fold_chinese_variants=False)) != content_hash("学习汉语")


def test_lsh_parameters_favour_recall():
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128
    p_at_threshold = 1 - (1 - 0.8 ** rows) ** bands
    assert p_at_threshold > 0.98


def test_large_buckets_are_bounded():
    pairs = candidate_pairs([f"d{i:04d}" for i in range(1000)])
    assert len(pairs) < 10_000
    assert candidate_pairs(["b", "a", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_components_join_chains_within_few_rounds():
    # doc_ids are hashes, so the nodes of a chain come in random order; 12 rounds is the default bound
    ids = sorted(f"{random.Random(i).getrandbits(64):016x}" for i in range(1024))
    random.Random(1).shuffle(ids)
    chain = [(ids[i], ids[i + 1]) for i in range(1023)]
    labels, rounds = star_rounds_reference(chain, max_rounds=20)
    assert set(labels.values()) == {min(ids)} and len(labels) == 1024
    assert rounds <= 12


def test_union_find_labels_equal_the_star_rounds():
    from refinery.transforms.beam.dedup_local import component_minimums

    rng = random.Random(5)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(300)]
    edges = [(ids[i], ids[i + 1]) for i in range(99)]  # one long chain
    edges += [(rng.choice(ids[100:]), rng.choice(ids[100:])) for _ in range(150)]  # random small components
    labels, _rounds = star_rounds_reference(edges, max_rounds=64)
    assert component_minimums(edges) == labels


def test_rank_rule():
    assert sorted([rank_key("longest", "b", 10, None), rank_key("longest", "a", 10, None),
                   rank_key("longest", "c", 11, None)])[0] == (-11, "c")
    assert min(rank_key("quality_longest", "z", 5, 0.9), rank_key("quality_longest", "a", 50, 0.1))[2] == "z"


def _rec(doc_id, text):
    return {"doc_id": doc_id, "text": text, "n_chars": len(text), "source_uri": "mem://x", "source_line": 0,
            "stages": ["ingest"]}


def _variants(base, k, rng):
    chars = list(base)
    for i in rng.sample(range(len(chars)), k):
        chars[i] = "风"
    return "".join(chars)


def test_dedup_transform_exact_near_chain_and_cjk():
    rng = random.Random(5)
    poem = "".join(rng.choice(HAN) for _ in range(300))
    en = " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(300))
    a = _rec("a", poem)
    b = _rec("b", poem)  # exact copy of a
    c = _rec("c", "  " + poem.replace("天", "天 ") + " ")  # re-formatted: same shingles
    near = _rec("n", _variants(poem, 2, rng))  # ~97% similar
    e1 = _rec("e1", en)
    e2 = _rec("e2", en.replace(en.split()[100], "changed", 1))  # one word changed
    unrelated = _rec("u", "".join(rng.choice(HAN) for _ in range(300)))
    # chain: x0 ~ x1 ~ x2 but x0 and x2 further apart
    x0 = "".join(rng.choice(HAN) for _ in range(400))
    x1 = _variants(x0, 4, random.Random(1))
    x2 = _variants(x1, 4, random.Random(2))
    chain = [_rec("x0", x0), _rec("x1", x1), _rec("x2", x2)]
    cfg = load_config(None, ["dedup.keep=smallest_id"])
    with TestPipeline() as p:
        out = p | beam.Create([a, b, c, near, e1, e2, unrelated] + chain) | DedupNearDuplicates(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], r["dup_cluster_size"])),
                    equal_to([("a", 4), ("e1", 2), ("u", 1), ("x0", 3)]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"], r["dup_of"])),
                    equal_to([("b", "exact_duplicate", "a"), ("c", "near_duplicate", "a"),
                              ("n", "near_duplicate", "a"), ("e2", "near_duplicate", "e1"),
                              ("x1", "near_duplicate", "x0"), ("x2", "near_duplicate", "x0")]), label="rejected")
        assert_that(out["errors"], equal_to([]), label="errors")


def test_below_threshold_is_not_a_duplicate():
    rng = random.Random(9)
    base = "".join(rng.choice(HAN) for _ in range(200))
    other = _variants(base, 12, rng)  # ~12 of 200 chars changed: Jaccard well below 0.8
    j = len(set(shingle_hashes(base, 5, "auto")) & set(shingle_hashes(other, 5, "auto")))
    cfg = load_config(None, [])
    with TestPipeline() as p:
        out = p | beam.Create([_rec("a", base), _rec("b", other)]) | DedupNearDuplicates(cfg)
        assert_that(out["rejected"], equal_to([]), label="none rejected")
    assert j > 0


def test_band_digests_equal_exactly_when_the_band_rows_are_equal():
    rng = np.random.default_rng(3)
    sigs = rng.integers(0, 2**32, size=(50, 128), dtype=np.uint64).astype(np.uint32)
    sigs[1, :7] = sigs[0, :7]  # band 0 (rows 0-6) shared by records 0 and 1, nothing else
    d = band_digests(sigs, 18, 7)
    assert d.shape == (50, 18) and d.dtype == np.uint64
    assert d[0, 0] == d[1, 0] and (d[0, 1:] != d[1, 1:]).all()
    assert len({int(x) for x in d[2:, 0]}) == 48
    empty = np.full((1, 128), 0xFFFFFFFF, dtype=np.uint32)
    assert has_shingles(np.vstack([sigs[:1], empty])).tolist() == [True, False]


def test_traditional_folding_by_table_matches_the_character_map():
    from refinery.transforms.dedup import _t2s_table

    table = _t2s_table()
    text = "漢語與臺灣的書籍 abc \U0002000b 😀"
    assert fold_traditional(text) == text.translate(table)
    assert fold_traditional(text).startswith("汉语与")
    assert dedup_normalise("  漢語\u3000ＴＥＸＴ\n\tend ") == "汉语 text end"


# --- chain-safe decisions ------------------------------------------------------------------------

def _window_docs(n, step, length=104, start=0):
    """Sliding windows over distinct tokens: doc i and doc j share length-4-|i-j|*step word 5-grams, so
    Jaccard(i, j) = (100 - d) / (100 + d) with d = |i-j|*step (step 7: 0.869 adjacent, 0.754 two apart)."""
    toks = [f"t{start + k}" for k in range(length + n * step)]
    return [" ".join(toks[i * step:i * step + length]) for i in range(n)]


def _sets(texts):
    return {d: shingle_hashes(dedup_normalise(t), 5, "auto") for d, t in texts.items()}


def _run_dedup(records, overrides, local=False):
    """Run DedupNearDuplicates → ({doc_id: (reason or 'kept', dup_of, dup_jaccard)}, {counter: value}).
    ``local``: the cluster step in one worker (dedup.cluster_step=local) instead of the unrolled rounds;
    ``"staged"``: the unrolled rounds as on a portable runner, records, shingle sets and node sets in staging
    files."""
    import glob
    import tempfile

    from apache_beam.metrics.metric import MetricsFilter

    cfg = load_config(None, overrides)
    tmp = tempfile.mkdtemp(prefix="dedup-test-")
    p = beam.Pipeline()
    if local == "staged":
        stage = DedupNearDuplicates(cfg, bounded_buckets=3, staging=f"{tmp}/staging")
    else:
        stage = DedupNearDuplicates(cfg, local_clusters=local)
    out = p | beam.Create(records) | stage
    (out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], "kept", None, None)),
     out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"], r["dup_of"], r["dup_jaccard"])),
     out["errors"] | "e" >> beam.Map(lambda r: (r["doc_id"], "error", None, None))) \
        | beam.Flatten() | beam.Map(json.dumps) | beam.io.WriteToText(f"{tmp}/decisions")
    res = p.run()
    res.wait_until_finish()
    counters: dict[str, int] = {}
    for c in res.metrics().query(MetricsFilter())["counters"]:  # one result per step: add them up
        if c.key.metric.namespace == "dedup":
            counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    got = read_jsonl(glob.glob(f"{tmp}/decisions*"))
    if local == "staged":  # the pairs and the rounds read the shingle sets from their files
        assert glob.glob(f"{tmp}/staging/b*-shingles-*.stage") and glob.glob(f"{tmp}/staging/b*-sets-*.stage")
    return {d: (what, of, j) for d, what, of, j in got}, counters


def _check_chain_safe(decisions, sets, threshold=0.8):
    from refinery.transforms.minhash import jaccard_sets

    for d, (what, of, j) in decisions.items():
        if what == "near_duplicate":
            assert decisions[of][0] == "kept", (d, of)
            assert jaccard_sets(sets[d], sets[of]) >= threshold and j >= threshold, (d, of, j)


def test_chain_safe_reference_keeps_the_far_end_of_a_chain():
    from refinery.transforms.dedup import chain_safe_reference

    a, b, c = _window_docs(3, 7)
    sets = _sets({"a": a, "b": b, "c": c})
    ranks = {d: rank_key("smallest_id", d, 0, None) for d in sets}
    got = chain_safe_reference(ranks, sets, 0.8, rounds=6)
    assert got["a"] == (None, None) and got["c"] == (None, None)
    assert got["b"][0] == "a" and got["b"][1] >= 0.8


@pytest.mark.parametrize("local", [False, True, "staged"], ids=["distributed", "local", "staged"])
def test_chain_is_not_removed_transitively(local):
    texts = dict(zip(["a", "b", "c"], _window_docs(3, 7), strict=True))
    decisions, counters = _run_dedup([_rec(d, t) for d, t in texts.items()], ["dedup.keep=smallest_id"], local)
    assert decisions == {"a": ("kept", None, None), "b": ("near_duplicate", "a", pytest.approx(0.8692, abs=1e-3)),
                         "c": ("kept", None, None)}
    assert counters["chain_kept"] == 1 and counters.get("chain_unresolved", 0) == 0
    assert counters.get("chain_set_missing", 0) == 0
    _check_chain_safe(decisions, _sets(texts))


def test_a_member_judged_without_a_shingle_set_is_kept_undecided_and_counted():
    from apache_beam.metrics.metric import MetricsFilter

    from refinery.transforms.beam.dedup import _JudgeFn
    from refinery.transforms.beam.dedup_elements import JudgeAgainst, ToJudge, wire

    a_set = np.array([1, 2, 3], dtype=np.uint32).tobytes()
    member = wire(ToJudge("b", ("b",), "a", "a", 2))
    elements = [("b", {"against": [wire(JudgeAgainst("a", a_set, member))], "own_shingles": []}),
                ("c", {"against": [wire(JudgeAgainst("a", None, wire(ToJudge("c", ("c",), "a", "a", 2))))],
                       "own_shingles": [a_set]})]
    p = beam.Pipeline()
    out = (p | beam.Create(elements) | beam.ParDo(_JudgeFn(0.8)).with_outputs("final", main="undecided"))
    assert_that(out["final"], equal_to([]), label="none removed")
    assert_that(out["undecided"] | beam.Map(lambda kv: (kv[0], kv[1][0])), equal_to([("a", "b"), ("a", "c")]),
                label="both back to their cluster")
    res = p.run()
    res.wait_until_finish()
    missing = sum(c.committed for c in res.metrics().query(MetricsFilter())["counters"]
                  if c.key.metric.name == "chain_set_missing")
    assert missing == 2


@pytest.mark.parametrize("local", [False, True, "staged"], ids=["distributed", "local", "staged"])
def test_star_whose_best_record_is_a_leaf(local):
    # centre z resembles every leaf (window offset 7 each way), leaves resemble each other less
    centre = _window_docs(1, 7, length=104, start=100)[0]
    toks = centre.split()
    leaves = {"a": " ".join(toks[:97] + ["la0", "la1", "la2", "la3", "la4", "la5", "la6"]),
              "b": " ".join(["lb0", "lb1", "lb2", "lb3", "lb4", "lb5", "lb6"] + toks[7:]),
              "c": " ".join(toks[:50] + ["lc0", "lc1", "lc2"] + toks[53:])}
    texts = {"z": centre, **leaves}
    sets = _sets(texts)
    decisions, counters = _run_dedup([_rec(d, t) for d, t in texts.items()], ["dedup.keep=smallest_id"], local)
    _check_chain_safe(decisions, sets)
    from refinery.transforms.dedup import chain_safe_reference

    ref = chain_safe_reference({d: (d,) for d in texts}, sets, 0.8, rounds=6)
    assert {d: (w if w == "kept" else "near", of) for d, (w, of, _j) in decisions.items()} == \
        {d: ("kept" if of is None else "near", of) for d, (of, _j) in ref.items()}
    assert decisions["z"][0] == "near_duplicate" and decisions["a"][0] == "kept"
    assert counters["chain_kept"] == sum(w == "kept" for w, _o, _j in decisions.values()) - 1


@pytest.mark.parametrize("local", [False, True, "staged"], ids=["distributed", "local", "staged"])
def test_long_path_in_random_rank_order_removes_only_resembling_records(local):
    rng = random.Random(11)
    docs = _window_docs(40, 7)
    ids = [f"{rng.getrandbits(64):016x}" for _ in docs]  # ranks (smallest id) in random order along the path
    texts = dict(zip(ids, docs, strict=True))
    sets = _sets(texts)
    from refinery.transforms.dedup import chain_safe_reference

    for rounds in (2, 6):
        decisions, counters = _run_dedup([_rec(d, t) for d, t in texts.items()],
                                         ["dedup.keep=smallest_id", f"dedup.chain_rounds={rounds}"], local)
        _check_chain_safe(decisions, sets)
        ref = chain_safe_reference({d: (d,) for d in texts}, sets, 0.8, rounds=rounds)
        assert {d: of for d, (_w, of, _j) in decisions.items()} == {d: of for d, (of, _j) in ref.items()}
        n_kept = sum(w == "kept" for w, _o, _j in decisions.values())
        assert counters["chain_kept"] == n_kept - 1 and counters["dropped:near_duplicate"] == 40 - n_kept
        if rounds == 2:
            assert counters["chain_unresolved"] > 0


def test_exact_copy_of_a_removed_near_duplicate_says_so():
    a, b = _window_docs(2, 2)  # Jaccard 98/102 = 0.961
    records = [_rec("a", a), _rec("b", b), _rec("b2", b)]
    cfg = load_config(None, ["dedup.keep=smallest_id"])
    with TestPipeline() as p:
        out = p | beam.Create(records) | DedupNearDuplicates(cfg)
        assert_that(out["rejected"] | beam.Map(lambda r: (r["doc_id"], r["reject_reason"], r["dup_of"],
                                                           r["reject_detail"])),
                    equal_to([("b", "near_duplicate", "a", "jaccard=0.961 >= dedup.threshold with kept record a"),
                              ("b2", "exact_duplicate", "a", "same content_hash as b, itself a near_duplicate "
                                                             "(jaccard=0.961) of kept record a")]))


def test_quality_longest_keeps_the_better_record_not_the_longer_one():
    # b is a's text plus three lines that end in an ellipsis: longer, a near duplicate, and a little worse
    # on the quality rules (ellipsis lines, symbols per word) though it passes them all
    from refinery.transforms.beam.quality import ScoreQuality
    from refinery.transforms.quality import quality_score, quality_signals, thresholds_for

    rng = random.Random(4)
    words = ("the river runs past old mill and we walk along its bank every morning "
             "while birds sing in tall trees").split()
    a = "\n".join(" ".join(rng.choice(words) for _ in range(14)).capitalize() + "." for _ in range(12))
    b = a + ("\nAnd then the story goes on and on and on and ...\nWe never know where the river ends ..."
             "\nOr where it starts, or why ...")
    cfg = load_config(None, [])  # dedup.keep: quality_longest, the default
    assert cfg.dedup.keep == "quality_longest"
    t = thresholds_for("en", cfg.quality.thresholds.model_dump(), {})
    sa, sb = (quality_score(quality_signals(x, "en"), cfg.quality.rules, t, set(cfg.quality.disabled_rules))
              for x in (a, b))
    assert 0.5 < sb < sa <= 1.0 and len(b) > len(a)
    recs = [dict(_rec("a-shorter", a), lang="en"), dict(_rec("b-longer", b), lang="en")]
    with TestPipeline() as p:
        q = p | beam.Create(recs) | ScoreQuality(cfg)
        out = q["kept"] | DedupNearDuplicates(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], r["quality_score"])),
                    equal_to([("a-shorter", pytest.approx(sa))]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"], r["dup_of"])),
                    equal_to([("b-longer", "near_duplicate", "a-shorter")]), label="rejected")


def test_quality_score_is_the_mean_credit_of_the_rules():
    from refinery.transforms.quality import quality_score

    t = {"min_words": 50, "max_ellipsis_lines_frac": 0.3}
    rules_sig = {"n_words": 100, "ellipsis_lines_frac": 0.0, "cjk_frac": 0.0}
    import refinery.transforms.quality as q

    only = [r for r in q.PRESETS["gopher_quality"] if r.param in t]
    name = {q.rule_name(r) for r in q.PRESETS["gopher_quality"] if r not in only}
    assert quality_score(rules_sig, ["gopher_quality"], t, name) == 1.0  # both passed by >= 50 %
    half = round((0.5 + 0.5 * 0.4 + 1) / 2, 4)
    assert quality_score(dict(rules_sig, n_words=60), ["gopher_quality"], t, name) == half
    assert quality_score(dict(rules_sig, n_words=10), ["gopher_quality"], t, name) == 0.5  # one fired: 0 + 1


# --- dedup against an earlier run's index -----------------------------------------------------

def _decide(records, overrides, index_dir=None, run_id="run-a"):
    """DedupNearDuplicates on records → {doc_id: (reason or 'kept', dup_of, detail)}; writes the index
    to ``index_dir`` when given."""
    import glob
    import tempfile

    from refinery.transforms.beam.dedup_index import write_index

    cfg = load_config(None, overrides)
    tmp = tempfile.mkdtemp(prefix="dedup-test-")
    p = beam.Pipeline()
    out = p | beam.Create(records) | DedupNearDuplicates(cfg)
    if index_dir is not None:
        write_index(out["index"], str(index_dir), cfg, run_id)
    (out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], "kept", None, None)),
     out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"], r["dup_of"], r["reject_detail"]))) \
        | beam.Flatten() | beam.Map(json.dumps) | beam.io.WriteToText(f"{tmp}/d")
    p.run().wait_until_finish()
    rows = read_jsonl(glob.glob(f"{tmp}/d*"))
    return {d: (w, of, detail) for d, w, of, detail in rows}


def test_refining_b_against_a_decides_as_refining_a_and_b_together(tmp_path):
    import pyarrow.parquet as pq

    w = lambda start, step=2, i=1: _window_docs(i + 1, step, start=start)[i]  # noqa: E731
    a = {"a1": w(0, i=0), "a2": w(1000, i=0), "a3": w(0, i=0)}
    b = {"b1": w(0), "b2": a["a2"], "b3": w(0), "b4": w(2000, i=0), "b5": w(2000), "b6": w(3000, i=0),
         "b7": w(1000, step=25)}  # b1/b3 ~ a1 (0.96), b2 = a2, b5 ~ b4, b7 far from a2 (0.6): kept
    opts = ["dedup.keep=smallest_id"]
    first = _decide([_rec(k, v) for k, v in a.items()], opts, index_dir=tmp_path / "A")
    index = pq.read_table(tmp_path / "A" / "index").to_pylist()
    assert sorted(r["doc_id"] for r in index) == sorted(d for d, x in first.items() if x[0] == "kept") == ["a1", "a2"]
    assert {"text"}.isdisjoint(index[0]) and len(index[0]["signature"]) == 128 and index[0]["run_id"] == "run-a"
    before = sorted((f.name, f.read_bytes()) for f in (tmp_path / "A" / "index").iterdir())

    incremental = _decide([_rec(k, v) for k, v in b.items()], opts + [f"dedup.against=['{tmp_path / 'A'}']"])
    together = _decide([_rec(k, v) for k, v in {**a, **b}.items()], opts)
    assert {d: x[:2] for d, x in incremental.items()} == {d: together[d][:2] for d in b}
    assert {d: x[:2] for d, x in incremental.items()} == {
        "b1": ("near_duplicate", "a1"), "b2": ("exact_duplicate", "a2"), "b3": ("exact_duplicate", "a1"),
        "b4": ("kept", None), "b5": ("near_duplicate", "b4"), "b6": ("kept", None), "b7": ("kept", None)}
    assert "of earlier run run-a" in incremental["b1"][2] and "of earlier run run-a" in incremental["b2"][2]
    assert sorted((f.name, f.read_bytes()) for f in (tmp_path / "A" / "index").iterdir()) == before


def test_an_index_built_with_other_parameters_is_refused(tmp_path):
    from refinery.transforms.beam.dedup_index import prior_index_files
    from refinery.transforms.inputs import InputError

    _decide([_rec("a1", _window_docs(1, 2)[0])], [], index_dir=tmp_path / "A")
    with pytest.raises(InputError, match="num_perm"):
        prior_index_files(load_config(None, ["dedup.num_perm=64", f"dedup.against=['{tmp_path / 'A'}']"]))
    with pytest.raises(InputError, match="no index/ folder"):
        prior_index_files(load_config(None, [f"dedup.against=['{tmp_path}']"]))
