"""Element micro-benchmark: what a typed element costs where Beam encodes it and where a stage builds it.

    python -m benchmarks.elements [--n 100000] [--json out.json]

1. Beam's ``FastPrimitivesCoder`` (the coder of every untyped PCollection) on a dedup element: a KV
   whose value is a plain tuple, the same fields as a ``typing.NamedTuple`` (pickled by the coder's
   fallback), and the NamedTuple sent as a plain tuple and rebuilt (:func:`wire` / :func:`rebuild`,
   what ``DedupNearDuplicates`` does). Microseconds per encode and per decode, and bytes.
2. A record: a dict literal, the ``Record`` TypedDict (a dict at run time) and a plain
   dataclass with the same fields: built, set and read; and encoded / decoded by the same coder
   (a dict natively, a dataclass by the pickle fallback).
"""

from __future__ import annotations

import dataclasses
import json
import timeit
from pathlib import Path

import numpy as np
from apache_beam.coders.coders import FastPrimitivesCoder

from benchmarks._timing import benchmark_parser
from refinery.schemas import Record
from refinery.transforms.beam.dedup_elements import Member, Sketch, rebuild, wire


def _us(fn, n: int) -> float:
    return timeit.timeit(fn, number=n) / n * 1e6


def coder_costs(n: int) -> dict:
    coder = FastPrimitivesCoder()
    doc = "0123456789abcdef0123456789abcdef"
    member = Member(doc, (-0.5, -1234, doc), 1, doc, 3)
    sketch = Sketch(doc, (-0.5, -1234, doc), np.arange(300, dtype=np.uint32).tobytes(),
                    np.arange(128, dtype=np.uint32).tobytes())
    out = {}
    for name, kind, value in (("member", Member, member), ("sketch", Sketch, sketch)):
        for how, v, back in (("tuple", tuple(value), lambda d: d),
                             ("namedtuple", value, lambda d: d),
                             ("wire+rebuild", wire(value), lambda d, k=kind: (d[0], rebuild(k, d[1])))):
            kv = (doc, v)
            enc = coder.encode(kv)
            assert back(coder.decode(enc)) == (doc, value)
            encode = _us(lambda kv=kv, how=how, value=value: coder.encode(
                (doc, wire(value)) if how == "wire+rebuild" else kv), n)
            decode = _us(lambda enc=enc, back=back: back(coder.decode(enc)), n)
            out[f"{name}/{how}"] = {"encode_us": round(encode, 3), "decode_us": round(decode, 3), "bytes": len(enc)}
    return out


@dataclasses.dataclass
class _RecordClass:
    doc_id: str
    text: str
    source_uri: str
    source_line: int
    n_chars: int
    lang: str | None = None
    lang_score: float | None = None


def record_costs(n: int) -> dict:
    def literal():
        r = {"doc_id": "a", "text": "t", "source_uri": "u", "source_line": 1, "n_chars": 1}
        r["lang"] = "en"
        return r["lang"]

    def typed():
        r = Record(doc_id="a", text="t", source_uri="u", source_line=1, n_chars=1)
        r["lang"] = "en"
        return r["lang"]

    def dataclass():
        r = _RecordClass("a", "t", "u", 1, 1)
        r.lang = "en"
        return r.lang

    out = {name: {"build_set_get_us": round(_us(fn, n), 3)}
           for name, fn in (("dict literal", literal), ("Record TypedDict", typed), ("dataclass", dataclass))}
    coder = FastPrimitivesCoder()
    fields = {"doc_id": "0123456789abcdef", "text": "some text " * 50, "source_uri": "gs://bucket/file.jsonl",
              "source_line": 12, "n_chars": 500, "lang": "en", "lang_score": 0.99}
    for name, rec in (("dict literal", dict(fields)), ("dataclass", _RecordClass(**fields))):
        enc = coder.encode(rec)
        out[name].update(encode_us=round(_us(lambda rec=rec: coder.encode(rec), n), 3),
                         decode_us=round(_us(lambda enc=enc: coder.decode(enc), n), 3), bytes=len(enc))
    out["Record TypedDict"].update({k: v for k, v in out["dict literal"].items() if k != "build_set_get_us"})
    return out


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--n", type=int, default=100_000, help="iterations per measurement")
    args = ap.parse_args()
    res = {"coder": coder_costs(args.n), "record": record_costs(args.n)}
    for name, r in res["coder"].items():
        print(f"{name:<24} encode {r['encode_us']:6.2f} us  decode {r['decode_us']:6.2f} us  {r['bytes']:5d} bytes")
    for name, r in res["record"].items():
        print(f"{name:<24} build+set+get {r['build_set_get_us']:6.3f} us  wire: encode {r['encode_us']:6.2f} us  "
              f"decode {r['decode_us']:6.2f} us  {r['bytes']:5d} bytes")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
