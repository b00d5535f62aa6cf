"""The aggregates and the bounded sample the expectation suite is evaluated on (pure).

Validating a terabyte must not load it into one process, so the suite never sees the dataset:

- :class:`Aggregator` folds records one at a time into a small, mergeable state (counts, ranges,
  value counts, histograms). The pipeline runs it as a Beam ``CombineFn`` over every written record;
  ``refinery validate`` runs it over the Parquet files, one record batch at a time.
- Uniqueness (doc_id across refined + rejected, content_hash inside refined) is counted exactly, by a
  keyed count in the pipeline (``Count.PerElement``) and by sorted 8-byte digests in ``validate``.
- The sample is the ``SAMPLE_ROWS`` records with the smallest hash of their doc_id (a bottom-k sample:
  deterministic, unbiased, mergeable), used for per-row expectations (types, sets, ranges, regexes).
"""

from __future__ import annotations

import hashlib

SAMPLE_ROWS = 5000
_SCORE_COLUMNS = ("lang_score", "dup_jaccard")
_HIST_SIGNALS = ("n_words", "mean_word_length", "alpha_words_frac", "dup_line_frac", "stop_words",
                 "top_2gram_char_frac", "line_punct_ratio")
_HIST_EDGES = {
    "n_words": [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000],
    "mean_word_length": [0, 1, 2, 3, 4, 5, 6, 8, 10, 15],
    "alpha_words_frac": [0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001],
    "dup_line_frac": [0, 0.0001, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0001],
    "stop_words": [0, 1, 2, 5, 10, 20, 50, 100, 1000],
    "top_2gram_char_frac": [0, 0.05, 0.1, 0.15, 0.2, 0.3, 1.0001],
    "line_punct_ratio": [0, 0.12, 0.3, 0.5, 0.7, 0.9, 1.0001],
}


# The scores a stage's own rejections are drawn by in the report (per rejecting stage, with the signals).
_STAGE_SCORE_EDGES = {
    "lang_score": [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001],
    "dup_jaccard": [0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001],
}
EXAMPLES_PER_REASON = 2
EXAMPLE_CHARS = 240


_EDGES = {**_HIST_EDGES, **_STAGE_SCORE_EDGES}


def sample_key(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


def _bucket(edges, v):
    for i in range(len(edges) - 1):
        if edges[i] <= v < edges[i + 1]:
            return i
    return len(edges) - 2 if v >= edges[-1] else 0


class Aggregator:
    """Mergeable aggregates of one output kind ('refined' or 'rejected')."""

    def __init__(self):
        self.s = {
            "rows": 0, "null_doc_id": 0, "empty_text": 0, "text_chars": 0,
            "score_min": {}, "score_max": {}, "lang": {}, "licence_decision": {}, "licence_category": {},
            "licence_spdx": {}, "reject": {}, "cluster_sizes": {},
            "hist": {k: [0] * (len(_HIST_EDGES[k]) - 1) for k in _HIST_SIGNALS},
            "pii": {},
            # rejected records only: per language and reason; per rejecting stage, histograms of its own
            # rejections; per reason, the EXAMPLES_PER_REASON records of smallest sample key (PII-redacted
            # excerpts), so every merge order gives the same examples
            "reject_by_lang": {}, "stage_hist": {}, "examples": {},
        }

    def add(self, r: dict) -> Aggregator:
        s = self.s
        s["rows"] += 1
        if not r.get("doc_id"):
            s["null_doc_id"] += 1
        text = r.get("text")
        if not text or not text.strip():
            s["empty_text"] += 1
        else:
            s["text_chars"] += len(text)
        for col in _SCORE_COLUMNS:
            v = r.get(col)
            if v is not None:
                s["score_min"][col] = min(s["score_min"].get(col, v), v)
                s["score_max"][col] = max(s["score_max"].get(col, v), v)
        for col, key in (("lang", "lang"), ("licence_decision", "licence_decision"),
                         ("licence_category", "licence_category"), ("licence_spdx", "licence_spdx")):
            v = str(r.get(col))
            s[key][v] = s[key].get(v, 0) + 1
        if r.get("reject_reason"):
            self._add_rejection(r)
        size = r.get("dup_cluster_size")
        if size is not None and r.get("dup_of") is None and r.get("dup_cluster_id") in (None, r.get("doc_id")):
            # one count per cluster (its best-ranked record; chain-safety may keep others too)
            k = str(min(int(size), 10)) if size < 10 else "10+"
            s["cluster_sizes"][k] = s["cluster_sizes"].get(k, 0) + 1
        q = r.get("quality")
        if q:
            for sig in _HIST_SIGNALS:
                v = q.get(sig)
                if v is not None:
                    s["hist"][sig][_bucket(_HIST_EDGES[sig], v)] += 1
        pii = r.get("pii_counts")
        if pii:
            for k, v in pii.items():
                if v:
                    s["pii"][k] = s["pii"].get(k, 0) + v
        return self

    def _add_rejection(self, r: dict) -> None:
        s = self.s
        k = f"{r.get('reject_stage')}/{r['reject_reason']}"
        s["reject"][k] = s["reject"].get(k, 0) + 1
        by_lang = s["reject_by_lang"].setdefault(str(r.get("lang")), {})
        by_lang[k] = by_lang.get(k, 0) + 1
        hists = s["stage_hist"].setdefault(str(r.get("reject_stage")), {})
        values = dict(r.get("quality") or {})
        values.update((col, r.get(col)) for col in _STAGE_SCORE_EDGES)
        for sig, edges in _EDGES.items():
            v = values.get(sig)
            if v is not None:
                hists.setdefault(sig, [0] * (len(edges) - 1))[_bucket(edges, v)] += 1
        examples = s["examples"].setdefault(k, [])
        key = sample_key(str(r.get("doc_id")))
        if len(examples) < EXAMPLES_PER_REASON or (key, str(r.get("doc_id"))) < tuple(examples[-1][:2]):
            examples.append([key, str(r.get("doc_id")), r.get("lang"), r.get("reject_detail"),
                             excerpt(r.get("text") or "")])
            examples.sort(key=lambda e: (e[0], e[1]))
            del examples[EXAMPLES_PER_REASON:]

    def merge(self, other: Aggregator) -> Aggregator:
        a, b = self.s, other.s
        for k in ("rows", "null_doc_id", "empty_text", "text_chars"):
            a[k] += b[k]
        for col, v in b["score_min"].items():
            a["score_min"][col] = min(a["score_min"].get(col, v), v)
        for col, v in b["score_max"].items():
            a["score_max"][col] = max(a["score_max"].get(col, v), v)
        for key in ("lang", "licence_decision", "licence_category", "licence_spdx", "reject", "cluster_sizes", "pii"):
            for k, v in b[key].items():
                a[key][k] = a[key].get(k, 0) + v
        for sig in _HIST_SIGNALS:
            a["hist"][sig] = [x + y for x, y in zip(a["hist"][sig], b["hist"][sig], strict=True)]
        for lang, reasons in b["reject_by_lang"].items():
            mine = a["reject_by_lang"].setdefault(lang, {})
            for k, v in reasons.items():
                mine[k] = mine.get(k, 0) + v
        for stage, hists in b["stage_hist"].items():
            mine = a["stage_hist"].setdefault(stage, {})
            for sig, counts in hists.items():
                mine[sig] = [x + y for x, y in zip(mine.get(sig, [0] * len(counts)), counts, strict=True)]
        for k, examples in b["examples"].items():
            both = sorted({(e[0], e[1]): e for e in a["examples"].get(k, []) + examples}.values(),
                          key=lambda e: (e[0], e[1]))
            a["examples"][k] = both[:EXAMPLES_PER_REASON]
        return self

    def result(self) -> dict:
        out = dict(self.s)
        out["hist_edges"] = {k: _HIST_EDGES[k] for k in _HIST_SIGNALS}
        out["stage_hist_edges"] = {k: _EDGES[k] for k in sorted({sig for h in self.s["stage_hist"].values()
                                                                   for sig in h})}
        out["examples"] = {k: [{"doc_id": e[1], "lang": e[2], "detail": e[3], "excerpt": e[4]} for e in v]
                           for k, v in sorted(self.s["examples"].items())}
        return out


def excerpt(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line of ``text`` for a report: every PII kind redacted (again: a run may have been told not to
    redact), whitespace collapsed, cut at ``limit`` characters."""
    from refinery.transforms.pii import PLACEHOLDER, find_pii, redact

    head = " ".join(text[: limit * 4].split())[: limit * 2]
    head = redact(head, find_pii(head), set(PLACEHOLDER))
    return head[:limit] + (" …" if len(head) > limit or len(text) > limit * 4 else "")


def duplicate_count(digests) -> int:
    """How many values occur more than once (given 8-byte integer digests)."""
    import numpy as np

    arr = np.sort(np.asarray(digests, dtype=np.uint64))
    if arr.size < 2:
        return 0
    same = arr[1:] == arr[:-1]
    starts = same & ~np.concatenate(([False], same[:-1]))
    return int(starts.sum())


def digest(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")
