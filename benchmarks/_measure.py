"""Run a refinery CLI command and print its peak memory as a JSON line on stdout.

    python -m benchmarks._measure -- run --input ... --output ...

peak_rss_mb is the largest resident set of this process; children_peak_rss_mb the largest of any
worker process it started (multi_processing DirectRunner), so "per worker" is the larger of the two
for multi-process runs.
"""

import json
import resource
import sys

from refinery.pipelines.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    code = main(argv)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"exit": code, "peak_rss_mb": round(max(own, kids), 1), "self_peak_rss_mb": round(own, 1),
                      "children_peak_rss_mb": round(kids, 1)}))
    sys.stdout.flush()
    import os

    os._exit(code)
