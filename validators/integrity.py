"""Integrity of a finished output folder against its manifest (``refinery validate``).

Checks, each reported with the file or manifest key it concerns:
- completeness: a manifest with status ``running`` is an incomplete output (the run was killed or is
  still running) and nothing else is checked; otherwise the ``_SUCCESS`` marker must be there for a
  run that succeeded, and no temporary file of an unfinished write may be left;
- every file under the output tree, whatever its name, is one the manifest lists — Parquet outputs
  with sha256, size and row count, reports with sha256 — or one of the three written after the
  manifest (the manifest itself, its signature, ``_SUCCESS``); any other file is a finding;
- each Parquet file is readable (a truncated or corrupt file is a finding, not a crash) and carries
  this run's id and config hash in its footer and in its rows;
- recomputed from the files: the totals, the reconciliation per input file and the stage counters
  (``seen``, ``kept``, ``dropped:<reason>``, ``error:<type>``, and the chain from one stage's kept to
  the next one's seen) equal the manifest's; doc_id is unique across refined + rejected; the config
  re-hashes to ``config_sha256``.

Streaming: a file is hashed in 1 MiB chunks and read one row group at a time, only the columns a check
needs; memory holds counts per input file and per stage and reason, and 16 bytes per doc_id.
Files are read through Beam's FileSystems, so a copy on gs:// can be checked too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from refinery.atomic import SUCCESS_NAME, is_refinery_temp

KINDS = ("refined", "rejected", "errors")
MANIFEST = "reports/manifest.json"
SIGNATURE = "reports/manifest.json.sig"
# Written by the run before its manifest, which lists each with its sha256 (``report_files``).
REPORT_FILES = ("reports/_run/inputs.json", "reports/_run/outputs.json", "reports/_run/aggregates.json",
                "reports/validation.json", "reports/report.html", "reports/datacard.md",
                "reports/openlineage.jsonl", "croissant.json", "README.md")
# Written after the manifest, so not listed in it (the signature covers the manifest's bytes).
AFTER_MANIFEST = (MANIFEST, SIGNATURE, SUCCESS_NAME)
INCOMPLETE = "incomplete (the run was killed or is still running)"

_CHUNK = 1 << 20
_COLUMNS = {
    "refined": ("source_uri", "doc_id", "run_id", "config_sha256"),
    "rejected": ("source_uri", "doc_id", "run_id", "config_sha256", "reject_stage", "reject_reason"),
    "errors": ("source_uri", "run_id", "error", "error_stage"),
}
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _read(path: str) -> bytes:
    with _open(path) as f:
        return f.read()


def _full(out_dir: str, rel: str) -> str:
    return FileSystems.join(out_dir, *rel.split("/"))


def _relative(out_dir: str, path: str) -> str:
    base = out_dir.rstrip("/") + "/"
    return path[len(base):] if path.startswith(base) else path


def file_sha256(path: str) -> tuple[str, int]:
    """(sha256 hex, size) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    n = 0
    with _open(path) as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def output_relpath(output: dict) -> str:
    """A manifest output's path relative to the output folder (paths are recorded as written; the folder
    being checked may be a copy). The kind's folder is the last one of that name in the path."""
    kind, path = output["kind"], output["path"]
    marker = f"/{kind}/"
    if marker in path:
        return kind + "/" + path.rsplit(marker, 1)[1]
    return path if path.startswith(kind + "/") else path.rsplit("/", 1)[-1]


def report_file_facts(out_dir: str) -> list[dict]:
    """``report_files`` for the manifest: path (relative), bytes, sha256 of each report the run wrote."""
    facts = []
    for rel in REPORT_FILES:
        path = _full(out_dir, rel)
        if FileSystems.exists(path):
            sha, n = file_sha256(path)
            facts.append({"path": rel, "bytes": n, "sha256": sha})
    index = _full(out_dir, "index/*.parquet")  # the dedup index (refinery.transforms.dedup_index)
    for m in sorted(FileSystems.match([index])[0].metadata_list, key=lambda m: m.path):
        rel = _relative(out_dir, m.path)
        if not is_refinery_temp(rel):
            sha, n = file_sha256(m.path)
            facts.append({"path": rel, "bytes": n, "sha256": sha})
    return facts


def run_files(manifest: dict) -> set[str]:
    """Every file (relative path) a run with this manifest wrote: outputs, reports, manifest, signature,
    ``_SUCCESS``. Temporary files are told by :func:`refinery.atomic.is_refinery_temp`."""
    files = {output_relpath(o) for o in manifest.get("outputs") or []}
    reports = manifest.get("report_files")
    # The card (README.md) only when the manifest lists it: a killed run never wrote one, and a user's
    # own README.md must not be taken for it (``--overwrite`` checks a card's run id instead).
    files |= {r["path"] for r in reports} if reports is not None else set(REPORT_FILES) - {"README.md"}
    return files | set(AFTER_MANIFEST)


def incomplete_message(manifest: dict) -> str | None:
    """The message for a manifest a run never finished (status ``running``), else None."""
    if manifest.get("status") != "running":
        return None
    return (f"run {manifest.get('run_id')}: {INCOMPLETE}: its manifest has said status 'running' since "
            f"{manifest.get('started_at')}; the files are partial — do not use them")


class _Tally:
    """What the files hold, summed file by file (a file is merged only once it was read whole)."""

    def __init__(self):
        self.per_source: Counter = Counter()  # (uri, kind) -> rows
        self.rows: Counter = Counter()  # kind -> rows
        self.dropped: Counter = Counter()  # (stage, reason) -> rows
        self.errors: Counter = Counter()  # (stage, error type) -> rows
        self.ids: list[np.ndarray] = []

    def merge(self, other: _Tally) -> None:
        self.per_source.update(other.per_source)
        self.rows.update(other.rows)
        self.dropped.update(other.dropped)
        self.errors.update(other.errors)
        self.ids.extend(other.ids)


def _id_key(doc_id: str | None) -> bytes:
    if not doc_id:
        return b""
    if _HEX32.fullmatch(doc_id):
        return bytes.fromhex(doc_id)
    return hashlib.blake2b(doc_id.encode(), digest_size=16).digest()


def _scan_parquet(path: str, rel: str, kind: str, manifest: dict, problems: list[str]) -> tuple[_Tally, int] | None:
    """Read one Parquet output row group by row group; None (and a finding) when it cannot be read."""
    t = _Tally()
    run_id, config_sha = manifest.get("run_id"), manifest.get("config_sha256")
    try:
        with _open(path) as f:
            pf = pq.ParquetFile(f)
            footer = {k.decode(errors="replace"): v.decode(errors="replace")
                      for k, v in (pf.metadata.metadata or {}).items()}
            for key, want in (("refinery.run_id", run_id), ("refinery.config_sha256", config_sha)):
                if footer.get(key) != want:
                    problems.append(f"{rel}: footer {key} is {footer.get(key)!r}, the manifest's is {want!r} "
                                    "(a file of another run?)")
            names = set(pf.schema_arrow.names)
            missing = [c for c in _COLUMNS[kind] if c not in names]
            if missing:
                problems.append(f"{rel}: lacks the column(s) {', '.join(missing)} of a {kind} file")
            cols = [c for c in _COLUMNS[kind] if c in names]
            seen_run, seen_cfg = set(), set()
            rows = 0
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i, columns=cols, use_threads=False)
                rows += table.num_rows
                col = {c: table.column(c).to_pylist() for c in cols}
                for uri in col.get("source_uri", []):
                    t.per_source[(uri, kind)] += 1
                seen_run.update(col.get("run_id", []))
                seen_cfg.update(col.get("config_sha256", []))
                # strict=False: a file lacking one of a pair's columns is reported above, and its rows
                # then count towards no reason rather than failing the whole file as unreadable
                if kind == "rejected":
                    t.dropped.update(zip(col.get("reject_stage", []), col.get("reject_reason", []), strict=False))
                if kind == "errors":
                    t.errors.update(zip(col.get("error_stage", []),
                                        ((e or "").split(":", 1)[0] for e in col.get("error", [])), strict=False))
                if "doc_id" in col:
                    t.ids.append(np.array([_id_key(d) for d in col["doc_id"]], dtype="S16"))
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt file is a finding, never a crash
        problems.append(f"{rel}: not readable as Parquet (truncated or corrupt): {type(exc).__name__}: {exc}")
        return None
    if "run_id" in cols and seen_run != {run_id} and rows:
        problems.append(f"{rel}: rows carry run_id {sorted(map(str, seen_run))[:3]}, the manifest's is {run_id!r}")
    if "config_sha256" in cols and seen_cfg != {config_sha} and rows:
        problems.append(f"{rel}: rows carry config_sha256 {sorted(map(str, seen_cfg))[:3]}, the manifest's is "
                        f"{config_sha!r}")
    t.rows[kind] += rows
    return t, rows


def _duplicates(ids: list[np.ndarray]) -> tuple[int, str | None]:
    if not ids:
        return 0, None
    arr = np.sort(np.concatenate(ids))
    arr = arr[arr != b""]
    if arr.size < 2:
        return 0, None
    same = arr[1:] == arr[:-1]
    starts = same & ~np.concatenate(([False], same[:-1]))
    n = int(starts.sum())
    return n, (bytes(arr[1:][starts][0]).ljust(16, b"\0").hex() if n else None)


def _check_totals(manifest: dict, tally: _Tally, problems: list[str]) -> None:
    inputs = manifest.get("inputs") or []
    want = {"records": sum(i.get("records") or 0 for i in inputs),
            "input_bytes": sum(i.get("bytes") or 0 for i in inputs),
            **{k: tally.rows[k] for k in KINDS}}
    got = manifest.get("totals")
    if not isinstance(got, dict):
        problems.append("manifest: no totals")
        return
    for k, v in want.items():
        if got.get(k) != v:
            held = "the inputs list sums to" if k in ("records", "input_bytes") else f"{k}/ holds"
            problems.append(f"totals.{k}: the manifest says {got.get(k)}, {held} {v}")


def _check_reconciliation(manifest: dict, tally: _Tally, problems: list[str]) -> None:
    from refinery.pipelines.run import reconcile

    inputs = [i for i in manifest.get("inputs") or [] if isinstance(i, dict) and "uri" in i]
    outputs = []
    for kind in KINDS:
        outputs.append({"kind": kind, "per_source": {u: n for (u, k), n in tally.per_source.items() if k == kind}})
    rec = reconcile([{"uri": i["uri"], "records": i.get("records") or 0} for i in inputs], outputs)
    for f in rec["files"]:
        if not f["ok"]:
            if f["records"] == 0 and f["uri"] not in {i["uri"] for i in inputs}:
                problems.append(f"reconciliation: rows from {f['uri']}, which is not an input of this run")
            else:
                problems.append(f"reconciliation: {f['uri']}: {f['records']} records read, files hold "
                                f"{f['refined'] + f['rejected'] + f['errors']} ({f['refined']} refined + "
                                f"{f['rejected']} rejected + {f['errors']} errors)")
    recorded = manifest.get("reconciliation")
    if recorded == rec:
        return
    if not isinstance(recorded, dict):
        problems.append("reconciliation: missing from the manifest")
        return
    before = len(problems)
    if rec["ok"] and recorded.get("ok") is not True:  # (a failure the files show is reported above)
        problems.append(f"reconciliation.ok: the manifest says {recorded.get('ok')}, the files give {rec['ok']}")
    by_uri = {f.get("uri"): f for f in recorded.get("files") or [] if isinstance(f, dict)}
    for f in rec["files"]:
        r = by_uri.pop(f["uri"], None)
        if r is None:
            problems.append(f"reconciliation: {f['uri']}: missing from the manifest's reconciliation")
        elif r != f and f["ok"]:
            diff = ", ".join(f"{k} {r.get(k)!r} (files: {v!r})" for k, v in f.items() if r.get(k) != v)
            problems.append(f"reconciliation: {f['uri']}: the manifest says {diff}")
    for uri in sorted(map(str, by_uri)):
        problems.append(f"reconciliation: {uri}: in the manifest's reconciliation, but no input of the run")
    if len(problems) == before and rec["ok"]:
        problems.append("reconciliation: the manifest's entry differs from the one recomputed from the files")


def _check_counters(manifest: dict, tally: _Tally, problems: list[str]) -> None:
    from refinery.schemas.reasons import Stage

    counters = manifest.get("counters")
    total_rows = sum(tally.rows.values())
    if not isinstance(counters, dict) or (not counters and total_rows):
        problems.append("counters: none in the manifest, though the files hold rows")
        return
    order = {s.value: i for i, s in enumerate(Stage)}
    namespaces = set(counters) | {s for s, _r in tally.dropped} | {s for s, _e in tally.errors}
    namespaces = sorted(namespaces, key=lambda ns: (order.get(ns, len(order)), str(ns)))
    for ns in namespaces:
        c = counters.get(ns) or {}
        if not isinstance(c, dict):
            problems.append(f"counters.{ns}: not a mapping of counter names to counts")
            continue
        for prefix, held in (("dropped:", tally.dropped), ("error:", tally.errors)):
            want = {f"{prefix}{name}": n for (s, name), n in held.items() if s == ns}
            have = {k: v for k, v in c.items() if k.startswith(prefix)}
            for k in sorted(set(want) | set(have)):
                if have.get(k, 0) != want.get(k, 0):
                    problems.append(f"counters.{ns}.{k}: the manifest says {have.get(k, 0)}, the files hold "
                                    f"{want.get(k, 0)} rows")
        if "seen" in c or "kept" in c:
            out = sum(v for k, v in c.items() if k.startswith(("dropped:", "error:")) and isinstance(v, int))
            if c.get("seen", 0) != c.get("kept", 0) + out:
                problems.append(f"counters.{ns}: seen {c.get('seen', 0)} is not kept {c.get('kept', 0)} + "
                                f"{out} dropped or errors")
    chain = [ns for ns in namespaces if isinstance(counters.get(ns), dict) and "seen" in counters[ns]]
    records = sum(i.get("records") or 0 for i in manifest.get("inputs") or [] if isinstance(i, dict))
    if chain and chain[0] == Stage.INGEST.value and counters[chain[0]]["seen"] != records:
        problems.append(f"counters.ingest.seen: the manifest says {counters[chain[0]]['seen']}, the inputs hold "
                        f"{records} records")
    for a, b in itertools.pairwise(chain):
        if counters[a].get("kept", 0) != counters[b]["seen"]:
            problems.append(f"counters.{b}.seen: the manifest says {counters[b]['seen']}, but {a} kept "
                            f"{counters[a].get('kept', 0)}")
    if chain and counters[chain[-1]].get("kept", 0) != tally.rows["refined"]:
        problems.append(f"counters.{chain[-1]}.kept: the manifest says {counters[chain[-1]].get('kept', 0)}, "
                        f"refined/ holds {tally.rows['refined']} rows")


def config_digest(config) -> str:
    """sha256 of a config as the manifest records it: the canonical JSON a run hashes
    (:meth:`refinery.pipelines.config.RunConfig.canonical_json`), taken of the recorded keys as they
    are. Not re-read through today's config model, which would add the keys newer versions
    introduced (with their defaults) and so fail every output written before them."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_config(manifest: dict, _tally: _Tally, problems: list[str]) -> None:
    config = manifest.get("config")
    if not isinstance(config, dict):
        problems.append(f"config: the manifest holds no run config (found {type(config).__name__})")
        return
    sha = config_digest(config)
    if sha != manifest.get("config_sha256"):
        problems.append(f"config: re-hashes to {sha[:16]}…, the manifest's config_sha256 is "
                        f"{str(manifest.get('config_sha256'))[:16]}… (the config or its hash was edited)")


def check_output(out_dir: str) -> list[str]:
    """Problems found (empty list: the output is complete and matches its manifest)."""
    problems: list[str] = []
    manifest_path = _full(out_dir, MANIFEST)
    try:
        manifest = json.loads(_read(manifest_path))
    except Exception as exc:  # noqa: BLE001
        return [f"{manifest_path}: cannot read manifest: {type(exc).__name__}: {exc}"]
    if not isinstance(manifest, dict):
        return [f"{manifest_path}: not a manifest (a JSON {type(manifest).__name__})"]
    message = incomplete_message(manifest)
    if message:
        return [message]
    _check_success_marker(out_dir, manifest, problems)
    listed, listed_reports = _listed_files(manifest, problems)
    present = _present_files(out_dir, listed, listed_reports, problems)
    if MANIFEST not in present and FileSystems.exists(manifest_path):
        present.add(MANIFEST)
    _check_reports(out_dir, listed_reports or {}, present, problems)
    tally = _check_outputs(out_dir, listed, present, manifest, problems)

    n_dup, example = _duplicates(tally.ids)
    if n_dup:
        problems.append(f"doc_id not unique: {n_dup} ids appear more than once (e.g. {example})")
    for section, check in (("totals", _check_totals), ("reconciliation", _check_reconciliation),
                           ("counters", _check_counters), ("config", _check_config)):
        try:
            check(manifest, tally, problems)
        except Exception as exc:  # noqa: BLE001 - a hand-edited manifest of the wrong shape is a finding
            problems.append(f"manifest: {section} (or the inputs it is checked against) malformed: "
                            f"{type(exc).__name__}: {exc}")
    return problems


def _check_success_marker(out_dir: str, manifest: dict, problems: list[str]) -> None:
    """The _SUCCESS marker is there, and empty, exactly when the manifest says the run succeeded."""
    status = manifest.get("status")
    success = _full(out_dir, SUCCESS_NAME)
    has_success = FileSystems.exists(success)
    if status != "succeeded":
        why = f": {manifest['error']}" if manifest.get("error") else ""
        problems.append(f"manifest: run status is {status!r}, not 'succeeded'{why}")
        if has_success:
            problems.append(f"{SUCCESS_NAME}: present, but the run did not succeed")
    elif not has_success:
        problems.append(f"{SUCCESS_NAME}: missing: the output is incomplete (the run was killed after writing its "
                        "manifest, or the marker was deleted); readers wait for it")
    elif FileSystems.match([success])[0].metadata_list[0].size_in_bytes:
        problems.append(f"{SUCCESS_NAME}: not empty (a marker written by Refinery is)")


def _listed_files(manifest: dict, problems: list[str]) -> tuple[dict, dict | None]:
    """The manifest's outputs and report files by relative path (reports None: a manifest without the list)."""
    listed = {}
    outputs = manifest.get("outputs")
    if not isinstance(outputs, list):
        problems.append(f"manifest: outputs is {type(outputs).__name__}, not a list of files")
        outputs = []
    for o in outputs:
        try:
            listed[output_relpath(o)] = o
        except (KeyError, TypeError, AttributeError):
            problems.append(f"manifest: malformed outputs entry {str(o)[:120]}")
    reports = manifest.get("report_files")
    listed_reports = ({r["path"]: r for r in reports if isinstance(r, dict) and isinstance(r.get("path"), str)}
                      if isinstance(reports, list) else None)
    return listed, listed_reports


def _present_files(out_dir: str, listed: dict, listed_reports: dict | None, problems: list[str]) -> set[str]:
    """Every file under ``out_dir`` (relative paths); temporary and unlisted files are problems."""
    allowed = set(AFTER_MANIFEST) | (set(REPORT_FILES) if listed_reports is None else set())
    present = set()
    for m in FileSystems.match([FileSystems.join(out_dir, "**")])[0].metadata_list:
        rel = _relative(out_dir, m.path)
        present.add(rel)
        if is_refinery_temp(rel):
            problems.append(f"{rel}: temporary file of an unfinished write (the run was interrupted)")
        elif rel not in listed and rel not in (listed_reports or {}) and rel not in allowed:
            problems.append(f"{rel}: file not in the manifest (added after the run?)")
    return present


def _check_reports(out_dir: str, listed_reports: dict, present: set[str], problems: list[str]) -> None:
    """Each report file the manifest lists is there with its sha256."""
    for rel, r in sorted(listed_reports.items()):
        if rel not in present:
            problems.append(f"{rel}: listed in the manifest but missing")
            continue
        sha, _n = file_sha256(_full(out_dir, rel))
        if sha != r.get("sha256"):
            problems.append(f"{rel}: sha256 {sha[:16]}… differs from the manifest's {str(r.get('sha256'))[:16]}… "
                            "(altered)")


def _check_outputs(out_dir: str, listed: dict, present: set[str], manifest: dict, problems: list[str]) -> _Tally:
    """Each output file the manifest lists is there with its sha256, size and rows; returns their tally."""
    tally = _Tally()
    for rel, o in sorted(listed.items()):
        if not isinstance(o, dict):
            problems.append(f"manifest: malformed outputs entry {str(o)[:120]}")
            continue
        if rel not in present:
            problems.append(f"{rel}: listed in the manifest but missing")
            continue
        path = _full(out_dir, rel)
        sha, size = file_sha256(path)
        if sha != o.get("sha256"):
            problems.append(f"{rel}: sha256 {sha[:16]}… differs from the manifest's {str(o.get('sha256'))[:16]}… "
                            "(altered)")
        if o.get("bytes") is not None and size != o["bytes"]:
            problems.append(f"{rel}: {size} bytes, the manifest says {o['bytes']}")
        kind = o.get("kind")
        if kind not in KINDS:
            problems.append(f"{rel}: unknown output kind {kind!r}")
            continue
        scanned = _scan_parquet(path, rel, kind, manifest, problems)
        if scanned is None:
            continue
        file_tally, rows = scanned
        if rows != o.get("rows"):
            problems.append(f"{rel}: {rows} rows, the manifest says {o.get('rows')} (rows added or deleted)")
        tally.merge(file_tally)
    return tally
