"""schemas/ is the single source of truth: the README's schema section and the reasons agree with it."""

from pathlib import Path

from refinery.schemas import REFINED_SCHEMA, REJECTED_SCHEMA, RejectReason
from refinery.schemas.__main__ import schema_markdown
from refinery.schemas.quality import QUALITY_FIELDS
from refinery.schemas.reasons import REASON_STAGE

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_schema_section_is_generated_from_schemas():
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- schema:start -->\n", 1)[1].split("<!-- schema:end -->", 1)[0]
    assert section == schema_markdown(), "run: python scripts/update_readme_schema.py"


def test_rejected_is_refined_plus_reject_columns():
    assert REJECTED_SCHEMA.names == REFINED_SCHEMA.names + ["reject_stage", "reject_reason", "reject_detail"]


def test_every_reason_has_a_stage_and_quality_fields_are_unique():
    assert set(REASON_STAGE) == set(RejectReason)
    names = [n for n, _t, _d in QUALITY_FIELDS]
    assert len(names) == len(set(names))
