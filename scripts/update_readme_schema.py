"""Regenerate the schema section of README.md from schemas/ (tests/test_schemas.py checks it)."""

from pathlib import Path

from refinery.schemas.__main__ import schema_markdown

README = Path(__file__).resolve().parent.parent / "README.md"

if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    head, rest = text.split("<!-- schema:start -->\n", 1)
    _old, tail = rest.split("<!-- schema:end -->", 1)
    README.write_text(head + "<!-- schema:start -->\n" + schema_markdown() + "<!-- schema:end -->" + tail,
                      encoding="utf-8")
    print("README schema section regenerated")
