"""Stage ``decontam``: reject documents that contain text of an evaluation set (``Decontaminate``).

Benchmark decontamination as GPT-3 (Brown et al. 2020, Appendix C), Dolma's ``decon`` and BigCode do
it: an index of the n-grams of every evaluation item, and a document that shares at least
``decontam.min_ngrams`` of them with one set is rejected as ``contaminated``; the detail names the
set, the number of shared n-grams and the document's overlapping span.

Units. Text is NFKC-normalised and case-folded token by token. Words (runs of letters and digits of
scripts written with spaces) make 13-grams, GPT-3's and Dolma's choice. Han, kana and Hangul text has
no spaces, so its characters make character n-grams of ``decontam.cjk_ngram`` (20): a Chinese word
is 1.5-1.7 characters on average in segmented corpora (PKU, MSR), so 20 characters cover about the
13 words of the Latin rule; a shorter gram (an idiom is 4 characters, a set phrase 8-12) would
match common phrasing rather than copied items. Punctuation and spaces between CJK characters are
skipped, so a copy with other punctuation still matches. Items with fewer tokens than a gram hold
no gram of that unit (the index counts them: ``short_items``).

Config: ``decontam.sets`` (set name -> path or glob of JSONL or Parquet files, local or ``gs://``,
each record's ``decontam.text_field``). Off when no set is configured. The index is built once per
worker process (``Shared``) in ``setup``; Beam is imported only when the stage is built. Counters
(namespace ``decontam``): seen, kept, dropped:contaminated, error:<type>, set:<name> (documents
rejected for that set).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import orjson
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from refinery.stages.spec import BuildContext, Reason, Rejection, Section, StageSpec

if TYPE_CHECKING:
    from refinery.schemas.records import Record

# ---------------------------------------------------------------------------------------------------- config


class DecontamConfig(Section):
    """Benchmark decontamination (Decontaminate): documents sharing n-grams with an evaluation set are rejected."""

    sets: dict[str, str] = Field(
        default_factory=dict,
        description="Evaluation sets: name -> path or glob of JSONL (.jsonl/.json/.ndjson, .gz/.zst) or Parquet "
        "files whose records hold the text in decontam.text_field, e.g. {mmlu: evals/mmlu/*.jsonl}. Empty: the "
        "stage is off.",
    )
    text_field: str = Field("text", description="Field of an evaluation record holding its text.")
    ngram: int = Field(13, ge=3, le=64, description="Word n-gram length (GPT-3 / Dolma decontamination: 13).")
    cjk_ngram: int = Field(
        20, ge=4, le=200,
        description="Character n-gram length for Han, kana and Hangul text (about 13 words: a Chinese word is "
        "1.5-1.7 characters).",
    )
    min_ngrams: int = Field(
        1, ge=1, le=1_000_000,
        description="A document sharing at least this many distinct n-grams with one set is contaminated.",
    )

    @field_validator("sets")
    @classmethod
    def _names(cls, v):
        for name, pattern in v.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"{name!r}: a set name is 1-64 letters, digits, '_', '.' or '-' (it names a counter)")
            if not str(pattern).strip():
                raise ValueError(f"{name}: empty path")
        return v


CONTAMINATED = Reason("contaminated", "shares at least decontam.min_ngrams n-grams with an evaluation set")

# ---------------------------------------------------------------------------------------------------- pure core

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_WORD_RE = re.compile(rf"[^\W_{_CJK}]+")  # letters and digits of spaced scripts
_CJK_RE = re.compile(f"[{_CJK}]")


def _norm(token: str) -> str:
    return unicodedata.normalize("NFKC", token).casefold()


def _digest(gram: str) -> int:
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")


@dataclasses.dataclass(frozen=True)
class Gram:
    """One n-gram of a text: its digest and the character span it covers in that text."""

    digest: int
    start: int
    end: int


def ngrams(text: str, n: int, cjk_n: int) -> Iterator[Gram]:
    """Word n-grams, then CJK character n-grams, of ``text`` (digests of the normalised tokens)."""
    for pattern, size, sep, tag in ((_WORD_RE, n, " ", "w"), (_CJK_RE, cjk_n, "", "c")):
        toks = [(m.start(), m.end(), _norm(m.group())) for m in pattern.finditer(text)]
        for i in range(len(toks) - size + 1):
            window = toks[i:i + size]
            yield Gram(_digest(tag + sep.join(t for _s, _e, t in window)), window[0][0], window[-1][1])


@dataclasses.dataclass
class Index:
    """Digest of every evaluation n-gram -> the set it came from (the first set, by name, that holds it)."""

    n: int
    cjk_n: int
    names: list[str]
    grams: dict[int, int]
    items: dict[str, int]
    short_items: dict[str, int]

    @classmethod
    def build(cls, sets: dict[str, Iterable[str]], n: int, cjk_n: int) -> Index:
        index = cls(n, cjk_n, sorted(sets), {}, {}, {})
        for set_no, name in enumerate(index.names):
            items = short = 0
            for text in sets[name]:
                items += 1
                seen_any = False
                for g in ngrams(text, n, cjk_n):
                    seen_any = True
                    index.grams.setdefault(g.digest, set_no)
                short += not seen_any
            index.items[name], index.short_items[name] = items, short
        return index


@dataclasses.dataclass(frozen=True)
class Overlap:
    """What a document shares with its most-shared evaluation set."""

    set_name: str
    ngrams: int
    span: str


def find_overlap(text: str, index: Index) -> Overlap | None:
    """The set sharing the most distinct n-grams with ``text`` (ties: first by name), the count and the
    document's first overlapping span (the run of shared n-grams that starts it); None if nothing is shared."""
    shared: dict[int, set[int]] = {}
    spans: dict[int, list[tuple[int, int]]] = {}
    for g in ngrams(text, index.n, index.cjk_n):
        set_no = index.grams.get(g.digest)
        if set_no is not None:
            shared.setdefault(set_no, set()).add(g.digest)
            spans.setdefault(set_no, []).append((g.start, g.end))
    if not shared:
        return None
    best = min(shared, key=lambda s: (-len(shared[s]), s))
    runs = spans[best]
    start, end = runs[0]
    for s, e in runs[1:]:
        if s > end:
            break
        end = max(end, e)
    return Overlap(index.names[best], len(shared[best]), text[start:end])


def decision(overlap: Overlap | None, min_ngrams: int) -> Rejection | None:
    """Reject (``contaminated``) at ``min_ngrams`` shared n-grams or more."""
    if overlap is None or overlap.ngrams < min_ngrams:
        return None
    span = overlap.span if len(overlap.span) <= 300 else overlap.span[:300] + "…"
    return Rejection(CONTAMINATED, f"set={overlap.set_name} shared_ngrams={overlap.ngrams} >= "
                                   f"decontam.min_ngrams={min_ngrams} span={span!r}")


# ---------------------------------------------------------------------------------------------------- reading sets


def _filesystems():
    from apache_beam.io.filesystems import FileSystems  # local or gs://; Beam only once a set is read

    return FileSystems


def set_files(name: str, pattern: str) -> list[str]:
    """The files ``pattern`` matches (sorted); ValueError naming the key when there are none."""
    try:
        matched = _filesystems().match([pattern])[0].metadata_list
    except Exception as exc:  # noqa: BLE001 - Beam raises its own error types per filesystem
        raise ValueError(f"decontam.sets.{name}: cannot match {pattern!r}: {exc}") from None
    files = sorted(m.path for m in matched)
    if not files:
        raise ValueError(f"decontam.sets.{name}: {pattern!r} matches no file")
    return files


def read_texts(path: str, text_field: str) -> Iterator[str]:
    """The texts of one evaluation file (Parquet by extension, else JSON Lines); ValueError naming the
    file and line for a record without a text."""
    with _filesystems().open(path) as f:
        if path.endswith(".parquet"):
            table = pq.read_table(f, columns=[text_field])
            yield from (t for t in table.column(text_field).to_pylist() if t)
            return
        for line_no, line in enumerate(iter(f.readline, b"")):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: not JSON ({exc})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get(text_field), str):
                raise ValueError(f"{path}:{line_no}: no string field {text_field!r} (decontam.text_field)")
            yield rec[text_field]


def load_index(c: DecontamConfig) -> Index:
    sets = {name: (t for path in set_files(name, pattern) for t in read_texts(path, c.text_field))
            for name, pattern in c.sets.items()}
    return Index.build(sets, c.ngram, c.cjk_ngram)


# ---------------------------------------------------------------------------------------------------- the stage

def transform(cfg, _ctx: BuildContext):
    return __getattr__("Decontaminate")(cfg)  # the Beam part, below


SPEC = StageSpec(
    name="decontam",
    role="records",
    summary="n-gram overlap with evaluation sets (13 words; 20 CJK characters); reject contaminated documents",
    section="decontam",
    config=DecontamConfig,
    reasons=(CONTAMINATED,),
    label="Decontaminate",
    transform=transform,
    enabled=lambda section: bool(section.sets),
)

# ---------------------------------------------------------------------------------------------------- Beam
# Defined on first use (``Decontaminate`` looked up here): listing the stages — refinery.schemas, the config,
# the validation worker — never imports Beam. The classes are module attributes once defined, so pickling
# a DoFn refers to them by name as usual.


def _define_beam_classes() -> None:
    if "Decontaminate" in globals():
        return
    import apache_beam as beam
    from apache_beam.utils.shared import Shared

    from refinery.transforms.beam.stage import RecordStageFn, SharedHolder, run_record_stage

    class _DecontaminateFn(RecordStageFn):
        stage = SPEC

        def __init__(self, cfg, shared: Shared):
            super().__init__(cfg)
            self._shared = shared

        def setup(self):
            super().setup()
            c = self.cfg.decontam
            self._index = self._shared.acquire(lambda: SharedHolder(load_index(c)),
                                               tag=f"decontam-{self.cfg.sha256()}").value

        def decide(self, record: Record):  # no column to annotate: the overlap is the evidence, in the detail
            overlap = find_overlap(record["text"], self._index)
            rejection = decision(overlap, self.cfg.decontam.min_ngrams)
            if rejection is not None:
                self._counters.inc(f"set:{overlap.set_name}")
            return rejection

    class Decontaminate(beam.PTransform):
        """Records → kept / rejected (``contaminated``) / errors, against the sets of ``decontam.sets``."""

        def __init__(self, cfg):
            super().__init__()
            self.cfg = cfg
            for name, pattern in cfg.decontam.sets.items():  # fail before the job runs, naming the key
                set_files(name, pattern)

        def expand(self, records):
            return run_record_stage(records, "Match", _DecontaminateFn(self.cfg, Shared()))

    for cls in (_DecontaminateFn, Decontaminate):
        cls.__qualname__ = cls.__name__
        globals()[cls.__name__] = cls


def __getattr__(name: str):
    if name in ("Decontaminate", "_DecontaminateFn"):
        _define_beam_classes()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
