"""Build transforms/data/spdx_index.npz from the SPDX License List texts.

    python scripts/build_spdx_index.py [../shared/data/spdx-licenses/data.jsonl]

Stores, per licence or exception (deprecated ids and SPDX placeholder texts skipped), the unique
32-bit hashes of its word 5-gram shingles after licence_normal() — the same function the pipeline
applies to documents — so a document's shingles can be looked up in one sorted array. Only hashes
are shipped, not the texts. Data: SPDX License List (see transforms/data/SPDX-LICENSE-LIST.md).
"""

import io
import json
import sys
from pathlib import Path

import numpy as np

from refinery.transforms.licence import licence_normal
from refinery.transforms.minhash import shingle_hashes

HERE = Path(__file__).resolve().parent.parent


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "shared/data/spdx-licenses/data.jsonl")
    ids, sizes, chunks = [], [], []
    with open(src, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["is_deprecated"] or d["text"].lstrip("\ufeff").lower().startswith("insert gpl"):
                continue
            h = shingle_hashes(licence_normal(d["text"].lstrip("\ufeff")), 5, "word")
            if h.size == 0:
                continue
            ids.append(d["spdx_id"])
            sizes.append(h.size)
            chunks.append(h)
    buf = io.BytesIO()
    np.savez_compressed(buf, ids=np.frombuffer(json.dumps(ids).encode(), dtype=np.uint8),
                        sizes=np.array(sizes, dtype=np.int32), hashes=np.concatenate(chunks).astype(np.uint32))
    out = HERE / "transforms/data/spdx_index.npz"
    out.write_bytes(buf.getvalue())
    print(f"{len(ids)} licences, {sum(sizes):,} shingles, {len(buf.getvalue()) / 1e6:.2f} MB -> {out}")


if __name__ == "__main__":
    main()
