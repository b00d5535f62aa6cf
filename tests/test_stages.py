"""The stage list is the one enumeration: everything that lists stages is derived from it and checked."""

import dataclasses

import pyarrow as pa
import pytest

from refinery.pipelines.config import RunConfig
from refinery.pipelines.refine import stage_transforms, stages_status
from refinery.schemas import REFINED_SCHEMA, RejectReason, Stage
from refinery.schemas.reasons import REASON_STAGE, check_reason_map
from refinery.stages import STAGES, Column, Reason, SpecError, StageSpec, record_stages
from refinery.stages.spec import check_specs, ordered_columns

# The public contract (README, rejected/ files, config keys): spelled out here so a rename fails a test.
CONTRACT_REASONS = {
    "ingest": {"empty_text", "non_text_payload", "empty_page", "http_status_not_ok"},
    "language": {"language_not_allowed", "language_uncertain"},
    "licence": {"licence_denied", "licence_review", "opted_out"},
    "quality": {
        "gopher_short_doc", "gopher_long_doc", "gopher_mean_word_length", "gopher_symbol_ratio",
        "gopher_bullet_lines", "gopher_ellipsis_lines", "gopher_alpha_words", "gopher_stop_words",
        "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac", "top_ngram_char_frac",
        "dup_ngram_char_frac", "c4_terminal_punct", "c4_lorem_ipsum", "c4_curly_brace", "c4_javascript",
        "c4_policy", "c4_too_few_sentences", "c4_badwords", "quality_model_score", "fineweb_line_punct",
        "fineweb_short_lines", "fineweb_dup_line_chars", "fineweb_newline_ratio",
    },
    "dedup": {"exact_duplicate", "near_duplicate"},
}


def test_every_reason_is_filed_under_the_stage_that_declares_it():
    declared = {r.value: s.name for s in STAGES for r in s.reasons}
    assert {r.value: REASON_STAGE[r].value for r in RejectReason} == declared
    for stage, reasons in CONTRACT_REASONS.items():
        assert reasons <= {r for r, s in declared.items() if s == stage}, stage


def test_stage_enum_is_the_stage_list_in_order():
    assert [s.value for s in Stage] == [s.name for s in STAGES]
    assert [s.name for s in STAGES][:4] == ["ingest", "language", "licence", "quality"]
    assert STAGES[-1].name == "write" and STAGES[0].role == "source" and STAGES[-1].role == "sink"


def _spec(name, **kw):
    return StageSpec(name=name, role="sink", summary="test", **kw)


def test_a_reason_declared_by_two_stages_is_refused():
    with pytest.raises(SpecError, match="reason 'x' is declared by both stage 'a' and stage 'b'"):
        check_specs([_spec("a", reasons=(Reason("x"),)), _spec("b", reasons=(Reason("x"),))])


def test_a_column_declared_twice_or_placed_after_nothing_is_refused():
    col = Column("c", pa.string(), "d")
    with pytest.raises(SpecError, match="column 'c'"):
        check_specs([_spec("a", columns=(col,)), _spec("b", columns=(col,))])
    with pytest.raises(SpecError, match="comes after 'nowhere'"):
        check_specs([_spec("a", columns=(dataclasses.replace(col, after="nowhere"),))])


def test_a_records_stage_without_a_transform_is_refused():
    with pytest.raises(SpecError, match="needs a label and a transform"):
        check_specs([StageSpec(name="a", role="records", summary="t")])


def test_an_unmapped_or_unknown_reason_fails_the_map_check():
    reasons = list(RejectReason)
    with pytest.raises(SpecError, match="unmapped \\['empty_text'\\]"):
        check_reason_map(reasons, {r: s for r, s in REASON_STAGE.items() if r.value != "empty_text"}, Stage)
    with pytest.raises(SpecError, match="unknown \\['made_up'\\]"):
        check_reason_map(reasons, {**REASON_STAGE, "made_up": Stage.QUALITY}, Stage)
    with pytest.raises(SpecError, match="filed under no stage"):
        check_reason_map(reasons, {**REASON_STAGE, RejectReason.EMPTY_TEXT: "nowhere"}, Stage)


def test_columns_are_placed_after_their_anchor():
    a = _spec("a", columns=(Column("x", pa.string(), ""), Column("y", pa.string(), "")))
    b = _spec("b", columns=(Column("z", pa.string(), "", after="x"), Column("w", pa.string(), "")))
    assert [c.name for c, _s in ordered_columns([a, b])] == ["x", "z", "y", "w"]


def test_schema_columns_are_the_stages_columns():
    declared = {c.name: s.name for s in STAGES for c in s.columns}
    assert set(REFINED_SCHEMA.names) == set(declared)
    for f in REFINED_SCHEMA:
        assert f.metadata[b"stage"].decode() == declared[f.name]


def test_config_sections_come_from_the_stages():
    sections = [s.section for s in STAGES if s.section]
    fields = list(RunConfig.model_fields)
    assert fields == ["run", *sections, "validation", "output"]
    for s in STAGES:
        if s.section:
            assert RunConfig.model_fields[s.section].annotation is s.config


def test_pipeline_and_manifest_follow_the_stage_list():
    cfg = RunConfig()
    assert [label for label, _t in stage_transforms(cfg)] == [s.label for s in record_stages() if s.is_enabled(cfg)]
    status = stages_status(cfg.model_copy(update={"dedup": cfg.dedup.model_copy(update={"enabled": False})}))
    assert list(status) == [s.section for s in record_stages()]
    assert status["dedup"] == "disabled" and status["language"] == "ran"


def test_explain_lines_come_from_every_stage(tmp_path):
    row = {"lang": "en", "lang_score": 0.9, "licence_spdx": "MIT", "quality": {"n_words": 3},
           "pii_counts": {"email": 1}, "dup_cluster_id": "a"}
    lines = [line for s in STAGES for line in s.explain(row)]
    assert [line.split(":")[0] for line in lines] == ["pii", "language", "licence", "quality", "dedup"]
