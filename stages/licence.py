"""Stage ``licence``: licence (SPDX), copyright and opt-out tagging (``TagLicences``) and the licence policy.

Annotate: the licence_* and copyright_* columns, rights_reserved, opted_out, ai_preferences. Decide:
``deny`` is rejected (``opted_out`` or ``licence_denied``); ``review`` is kept and flagged, or rejected
(``licence_review``) with ``licence.review_action: reject``. Pure core: :mod:`refinery.transforms.licence`;
DoFn and PTransform: :mod:`refinery.transforms.beam.licence`.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator

from refinery.stages.spec import BuildContext, Check, Column, Reason, Section, StageSpec

Decision = Literal["allow", "review", "deny"]
LICENCE_CATEGORIES = ("permissive", "weak-copyleft", "copyleft", "non-commercial", "no-derivatives", "public-domain",
                      "proprietary", "unknown")


class LicenceConfig(Section):
    """Licence, copyright and opt-out tagging (TagLicences) and the licence policy."""

    enabled: bool = Field(True, description="Tag licences, copyright statements and opt-outs.")
    metadata_fields: list[str] = Field(
        default_factory=lambda: ["license", "licence", "meta.license", "meta.licence", "license_name", "rights",
                                 "warc.license"],
        description="Input fields (dotted paths into meta) holding licence metadata, first found wins.",
    )
    detect_in_text: bool = Field(True,
        description="Look for SPDX tags, notices, licence texts and CC links in the text.")
    text_window_chars: int = Field(
        40_000, ge=1000, le=100_000_000,
        description="Text detectors read the first 4/5 and last 1/5 of this many characters.")
    policy: dict[str, Decision] = Field(
        default_factory=lambda: {"permissive": "allow", "public-domain": "allow", "weak-copyleft": "allow",
                                 "copyleft": "review", "no-derivatives": "review", "non-commercial": "deny",
                                 "proprietary": "deny", "unknown": "review"},
        description="Decision per licence category.",
    )
    ids: dict[str, Decision] = Field(
        default_factory=dict, description="Decision per SPDX id, overriding its category, e.g. {GPL-3.0-only: allow}.")
    opt_out: Decision = Field("deny", description="Decision when an AI-training / TDM opt-out is found.")
    opt_out_preferences: list[str] = Field(
        default_factory=lambda: ["train-ai", "train-genai", "ai-use"],
        description="IETF AIPREF Content-Usage categories whose 'n' (header, HTML meta or text) counts as an "
        "opt-out (train-ai, train-genai, ai-use, search, ...).")
    reserved_without_licence: Decision = Field(
        "review", description="Decision for 'All rights reserved' (or equivalent) with no licence found.")
    no_licence: Decision = Field("review", description="Decision when nothing about licensing is known.")
    review_action: Literal["keep", "reject"] = Field(
        "keep", description="review records: keep them in refined/ (flagged in licence_decision) or reject them "
        "(licence_review).")

    @field_validator("policy")
    @classmethod
    def _known_categories(cls, v):
        for k in v:
            if k not in LICENCE_CATEGORIES:
                raise ValueError(f"{k}: not a licence category (one of: {', '.join(LICENCE_CATEGORIES)})")
        missing = [c for c in LICENCE_CATEGORIES if c not in v]
        if missing:
            raise ValueError(f"policy must decide every category; missing: {', '.join(missing)}")
        return v


_str, _strs, _bool = pa.string(), pa.list_(pa.string()), pa.bool_()

COLUMNS = (
    Column("licence_spdx", _str, "SPDX licence expression, LicenseRef-unknown, or null."),
    Column("licence_source", _str, "Where the licence came from: metadata | text | none."),
    Column("licence_category", _str,
           "permissive | weak-copyleft | copyleft | non-commercial | no-derivatives | public-domain | "
           "proprietary | unknown."),
    Column("licence_decision", _str, "Policy decision: allow | review | deny."),
    Column("copyright_statements", _strs, "Copyright statements, as written."),
    Column("copyright_holders", _strs, "Holders named in the statements."),
    Column("rights_reserved", _bool, "'All rights reserved' or an equivalent was found."),
    Column("opted_out", _bool, "An AI-training / TDM opt-out signal was found."),
    Column("licence_evidence", _strs,
           "What gave licence_spdx, and where: metadata field (for a web page: html:rel=license | html:meta:<name> | "
           "html:footer-link | html:body-link (weak)), spdx-tag, kb:<ScanCode rule> (kind) chars <span> "
           "coverage <0-1>, "
           "gnu-notice, creative-commons, spdx-text:<id> containment / share."),
    Column("copyright_years", _strs, "Years of the copyright statements, as written."),
    Column("ai_preferences", _strs,
           "AI-usage preferences with their source: "
           "<header|html|text>:content-usage:<train-ai|ai-use|search|train-genai>"
           "=<y|n> (IETF AIPREF), <source>:tdm-reservation=<0|1>, <source>:tdm-policy=<url> (TDMRep)."),
)

LICENCE_DENIED = Reason("licence_denied", "the licence policy decided deny")
LICENCE_REVIEW = Reason("licence_review", "the licence policy decided review, and licence.review_action is reject")
OPTED_OUT = Reason("opted_out", "an AI-training / TDM opt-out, and licence.opt_out is deny")


def checks(_cfg) -> list[Check]:
    return [
        Check("licence_never_deny_in_refined", "critical", "licence_decision is never 'deny' in refined/",
              "aggregates", "between", "refined_licence_denied", {"min_value": 0, "max_value": 0}),
        Check("licence_decision_values", "critical", "refined rows are 'allow' or 'review' (or untagged)",
              "refined_sample", "in_set", "licence_decision", {"value_set": ["allow", "review"]}),
    ]


def explain(r: dict) -> list[str]:
    lines = [f"licence:  {r.get('licence_spdx')} ({r.get('licence_source')}, {r.get('licence_category')}) "
             f"decision={r.get('licence_decision')} opted_out={r.get('opted_out')} "
             f"rights_reserved={r.get('rights_reserved')}"]
    if r.get("copyright_statements"):
        lines.append(f"          copyright: {r['copyright_statements']}")
    return lines


def transform(cfg, _ctx: BuildContext):
    from refinery.transforms.beam.licence import TagLicences  # Beam stays out of the schemas' imports

    return TagLicences(cfg)


SPEC = StageSpec(
    name="licence",
    role="records",
    summary="SPDX from metadata and text, copyright statements, AI/TDM opt-outs; allow / review / deny",
    section="licence",
    config=LicenceConfig,
    columns=COLUMNS,
    reasons=(LICENCE_DENIED, LICENCE_REVIEW, OPTED_OUT),
    label="TagLicences",
    transform=transform,
    explain=explain,
    checks=checks,
)
