"""Integrity of a finished output folder against its manifest (``refinery validate``).

Checks, each reported with the file it concerns:
- every file the manifest lists exists, with the same sha256 and row count;
- no Parquet file exists that the manifest does not list (an added file);
- the reconciliation recorded in the manifest holds, recomputed from the files' rows;
- doc_id is unique across refined + rejected.
Files are read through Beam's FileSystems, so a copy on gs:// can be checked too.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter

from apache_beam.io.filesystems import FileSystems

from refinery.arrow_io import read_table


def _read(path: str) -> bytes:
    with FileSystems.open(path) as f:
        return f.read()


def _relative(out_dir: str, path: str) -> str:
    base = out_dir.rstrip("/") + "/"
    return path[len(base):] if path.startswith(base) else path


def check_output(out_dir: str) -> list[str]:
    """Problems found (empty list: the output matches its manifest)."""
    problems: list[str] = []
    manifest_path = FileSystems.join(out_dir, "reports", "manifest.json")
    try:
        manifest = json.loads(_read(manifest_path))
    except Exception as exc:  # noqa: BLE001
        return [f"{manifest_path}: cannot read manifest: {exc}"]
    if manifest.get("status") != "succeeded":
        problems.append(f"manifest: run status is {manifest.get('status')!r}, not 'succeeded'")
    # Paths in the manifest are as written; re-anchor them on the folder being checked (it may be a copy).
    listed = {}
    for o in manifest.get("outputs", []):
        rel = o["path"]
        for kind in ("refined", "rejected", "errors"):
            marker = f"/{kind}/"
            if marker in rel:
                rel = kind + "/" + rel.split(marker, 1)[1]
                break
        listed[rel] = o
    present = set()
    for kind in ("refined", "rejected", "errors"):
        pattern = FileSystems.join(out_dir, kind, "**")
        for m in FileSystems.match([pattern])[0].metadata_list:
            if m.path.endswith(".parquet"):
                present.add(_relative(out_dir, m.path))
    for rel in sorted(present - set(listed)):
        problems.append(f"{rel}: file not in the manifest (added after the run?)")
    per_source: dict[str, Counter] = {}
    ids: Counter = Counter()
    for rel, o in sorted(listed.items()):
        if rel not in present:
            problems.append(f"{rel}: listed in the manifest but missing")
            continue
        data = _read(FileSystems.join(out_dir, rel))
        sha = hashlib.sha256(data).hexdigest()
        if sha != o["sha256"]:
            problems.append(f"{rel}: sha256 {sha[:16]}… differs from the manifest's {o['sha256'][:16]}… (altered)")
        try:
            table = read_table(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{rel}: not readable as Parquet: {exc}")
            continue
        if table.num_rows != o["rows"]:
            problems.append(f"{rel}: {table.num_rows} rows, the manifest says {o['rows']} (rows added or deleted)")
        kind = rel.split("/", 1)[0]
        for uri in table.column("source_uri").to_pylist():
            per_source.setdefault(uri, Counter())[kind] += 1
        if kind != "errors":
            ids.update(table.column("doc_id").to_pylist())
    dup_ids = [i for i, n in ids.items() if n > 1]
    if dup_ids:
        problems.append(f"doc_id not unique: {len(dup_ids)} ids appear more than once (e.g. {dup_ids[0]})")
    for inp in manifest.get("inputs", []):
        got = per_source.pop(inp["uri"], Counter())
        total = sum(got.values())
        if total != inp["records"]:
            problems.append(f"reconciliation: {inp['uri']}: {inp['records']} records read, files hold {total} "
                            f"({got.get('refined', 0)} refined + {got.get('rejected', 0)} rejected + "
                            f"{got.get('errors', 0)} errors)")
    for uri in sorted(per_source):
        problems.append(f"reconciliation: rows from {uri}, which is not an input of this run")
    return problems
