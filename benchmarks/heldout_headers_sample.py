"""Sample the file headers of the hand-labelled held-out set (benchmarks/data/heldout_headers.json).

    python -m benchmarks.heldout_headers_sample SITE_PACKAGES > /tmp/sample.json

Picks, with a fixed seed, source files (.py .c .h .pyx .js .f .cpp) of installed third-party packages
whose first 60 lines mention a copyright or a licence (at most two files per package), and keeps their
first 40 lines. The labels (SPDX ids, copyright statements) were then written by hand, before any
measurement, into benchmarks/data/heldout_headers.json; the detectors were never tuned on them.
"""
import json
import random
import sys
from pathlib import Path

root = Path(sys.argv[1])
by_pkg = {}
for f in sorted(root.rglob("*")):
    if f.suffix not in (".py", ".c", ".h", ".pyx", ".js", ".f", ".cpp", ".pyi") or not f.is_file():
        continue
    pkg = f.relative_to(root).parts[0]
    if pkg in ("refinery", "__pycache__") or pkg.endswith(".dist-info"):
        continue
    try:
        lines = f.read_text("utf-8").splitlines()[:60]
    except (UnicodeDecodeError, OSError):
        continue
    head = "\n".join(lines).lower()
    if "copyright" in head or "licen" in head:
        by_pkg.setdefault(pkg, []).append((f, lines[:40]))
rng = random.Random(16)
cases = []
for pkg in sorted(by_pkg):
    for f, lines in rng.sample(by_pkg[pkg], min(2, len(by_pkg[pkg]))):
        cases.append({"file": str(f.relative_to(root)), "text": "\n".join(lines)})
print(json.dumps(cases, indent=1, ensure_ascii=False))
