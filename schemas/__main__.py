"""``python -m refinery.schemas``: print the output schema as Markdown tables (used in the README)."""

from refinery.schemas.quality import PII_KINDS, QUALITY_FIELDS
from refinery.schemas.reasons import REASON_STAGE, RejectReason
from refinery.schemas.records import column_docs


def schema_markdown() -> str:
    lines = []
    for kind, cols in column_docs().items():
        lines += [f"#### `{kind}`", "", "| column | type | stage | description |", "|---|---|---|---|"]
        lines += [f"| `{n}` | `{t}` | {s} | {d} |" for n, t, s, d in cols]
        lines.append("")
    lines += ["#### `quality` struct fields", "", "| field | type | description |", "|---|---|---|"]
    lines += [f"| `{n}` | `{t}` | {d} |" for n, t, d in QUALITY_FIELDS]
    lines += ["", f"`pii_counts` fields: {', '.join(f'`{k}`' for k in PII_KINDS)} (int32).", ""]
    lines += ["#### Reject reasons (closed list)", "", "| reason | stage |", "|---|---|"]
    lines += [f"| `{r.value}` | {REASON_STAGE[r].value} |" for r in RejectReason]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(schema_markdown(), end="")
