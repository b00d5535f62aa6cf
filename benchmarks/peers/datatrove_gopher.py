"""Run datatrove's Gopher quality + repetition filters over a JSONL of {"id", "text"}; print JSON
decisions and throughput. Executed with the interpreter of a separate environment that has datatrove
(never a Refinery dependency), e.g.:

    python3 -m venv /tmp/dtvenv && /tmp/dtvenv/bin/pip install datatrove regex nltk spacy
    /tmp/dtvenv/bin/python benchmarks/peers/datatrove_gopher.py docs.jsonl
"""

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

docs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
quality, repetition = GopherQualityFilter(), GopherRepetitionFilter()
decisions = {}
quality.filter(Document(text="warm up the tokenizer", id="w"))
t0 = time.perf_counter()
for d in docs:
    doc = Document(text=d["text"], id=d["id"])
    res = repetition.filter(doc)
    keep = res is True or (isinstance(res, tuple) and res[0])
    if keep:
        res = quality.filter(doc)
        keep = res is True or (isinstance(res, tuple) and res[0])
    decisions[d["id"]] = bool(keep)
elapsed = time.perf_counter() - t0
nbytes = sum(len(d["text"].encode()) for d in docs)
print(json.dumps({"decisions": decisions, "seconds": elapsed, "mb_s": nbytes / elapsed / 1e6}))
