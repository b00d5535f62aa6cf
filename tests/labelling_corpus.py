"""Two releases of one crude corpus for the labelling workflow tests: part of the sample corpus, then the
same files edited in place (doc_ids depend on the file's path and the line, so a new release of the
same files keeps the ids of the lines that stayed where they were).

Edits between release 1 and release 2, and what ``refinery diff`` must call each:

- ``udhr.jsonl`` line 0: a sentence appended                    → changed (text)
- ``udhr.jsonl`` line 4: text replaced by "Hi."                  → removed, rejected:quality/gopher_short_doc
- ``udhr.jsonl`` line 7: text replaced by line 6's text          → one of the two removed as an exact
                                                                   duplicate of the other (dup_of)
- ``udhr.jsonl``: the last line (75) deleted                     → removed, gone
- ``web_notices.jsonl`` line 8 (lorem ipsum, rejected before):
  replaced by prose                                              → added, was_rejected:quality/...
- ``web_notices.jsonl``: a new English record appended (line 15) → added, new
- ``gb18030_poems.txt`` renamed ``gb18030_poems_v2.txt``          → its doc_id removed (gone) and a new
                                                                   one added with the same text: moved
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"
FILES = ("udhr.jsonl", "web_notices.jsonl", "poetry.jsonl.gz", "gb18030_poems.txt")

NEW_ENGLISH = (
    "The river that runs past the old mill has changed its course three times in the last century. "
    "Each time the town moved the footbridge a little further downstream, and each time the older "
    "residents complained that the walk to the market had become longer than it ought to be. "
    "The council has now decided to build a stone bridge that will stand where the water is deepest. "
    "Work will begin in the spring, when the level of the river is at its lowest, and it should be "
    "finished before the harvest festival in the autumn."
)
NEW_PROSE = (
    "A small library opened last week in the building that used to house the post office. "
    "It has a reading room with tall windows, a corner for children with low shelves and soft chairs, "
    "and a collection of local newspapers that goes back more than a hundred years. "
    "Volunteers run it on weekday afternoons and on Saturday mornings. "
    "They hope that the people of the village will bring the books they no longer need, so that the "
    "shelves fill up before the winter."
)


def _rewrite(path: Path, edits: dict[int, str], append: list[dict] | None = None, drop_last: bool = False) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if drop_last:
        lines.pop()
    for i, text in edits.items():
        rec = json.loads(lines[i])
        rec["text"] = text
        lines[i] = json.dumps(rec, ensure_ascii=False)
    for rec in append or []:
        lines.append(json.dumps(rec, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_release1_corpus(crude: Path) -> None:
    crude.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy(SAMPLE / name, crude / name)


def edit_into_release2_corpus(crude: Path) -> dict[str, int]:
    """Apply the edits above in place; returns (file, line) by role, the line in release 1 (release 2 for
    ``appended`` and ``moved``)."""
    udhr = crude / "udhr.jsonl"
    texts = [json.loads(line)["text"] for line in udhr.read_text(encoding="utf-8").splitlines()]
    _rewrite(udhr, {0: texts[0] + "\nThis sentence was added for the second release.", 4: "Hi.", 7: texts[6]},
             drop_last=True)
    notices = crude / "web_notices.jsonl"
    n_notices = len(notices.read_text(encoding="utf-8").splitlines())
    _rewrite(notices, {8: NEW_PROSE}, append=[{"id": "new-english", "text": NEW_ENGLISH, "license": "CC0-1.0"}])
    (crude / "gb18030_poems.txt").rename(crude / "gb18030_poems_v2.txt")
    u, w = "udhr.jsonl", "web_notices.jsonl"
    return {"changed": (u, 0), "short": (u, 4), "dup_a": (u, 6), "dup_b": (u, 7), "gone": (u, len(texts) - 1),
            "was_rejected": (w, 8), "appended": (w, n_notices), "moved_from": ("gb18030_poems.txt", 0),
            "moved": ("gb18030_poems_v2.txt", 0)}
