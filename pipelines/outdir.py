"""The output folder: one run at a time, and ``--overwrite`` that deletes only what Refinery wrote.

- :class:`OutputLock` — ``OUT/.refinery.lock`` (pid, host, start time, run id), created exclusively
  before anything is written or deleted, removed when the run ends. A second run on the same folder
  is refused while the first one lives. A lock whose process is gone (same host, pid not running) is
  stale: it is reported on stderr and replaced; a lock from another host cannot be checked and is
  refused, naming the file to remove.
- :func:`prepare_output` — a non-empty folder is refused unless ``--overwrite``; with it, the folder
  must be an earlier Refinery run's (``reports/manifest.json``), and only the files that run wrote are
  deleted: the files its manifest lists, its reports, its temporary files, and Parquet parts whose
  footer carries its ``refinery.run_id`` (a killed run's parts, written before its manifest listed
  them). Anything else in the folder (a user's document, a ``.git`` folder) makes ``--overwrite``
  refuse, listing what it found: nothing of the user's is ever deleted.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import socket
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from refinery.atomic import is_refinery_temp
from refinery.transforms.inputs import is_local
from refinery.validators.card import CARD_NAME, card_run_id
from refinery.validators.integrity import run_files

LOCK_NAME = ".refinery.lock"
OUTPUT_KINDS = ("refined", "rejected", "errors")
# Files a run writes outside its listed outputs (reports, the dataset card, the success marker).
_RUN_FILES = {"croissant.json", "_SUCCESS", LOCK_NAME}
_REPORT_FILES = {"manifest.json", "manifest.json.sig", "validation.json", "report.html", "datacard.md",
                 "openlineage.jsonl"}
_PART = re.compile(r"part-\d{5}-of-\d{5}\.parquet$")
# Temporary names: Refinery's own (written, then renamed on completion) and Beam's temp folders.
_BEAM_TEMP = re.compile(r"^(beam-temp-|\.temp-beam-)")


class OutputRefused(RuntimeError):
    """The output folder cannot be used (as it is, or at all); the message says why and what to do."""


def is_temp_name(name: str) -> bool:
    return is_refinery_temp(name) or bool(_BEAM_TEMP.match(name))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@dataclass
class OutputLock:
    """Exclusive use of a local output folder for one run (a no-op for remote folders)."""

    out_dir: str
    run_id: str
    warn: callable = print
    path: str | None = None

    def acquire(self) -> OutputLock:
        if not is_local(self.out_dir):
            return self
        os.makedirs(self.out_dir, exist_ok=True)
        path = os.path.join(self.out_dir, LOCK_NAME)
        body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_at": _now(),
                           "run_id": self.run_id}).encode()
        for _attempt in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._judge_existing(path)  # raises, or removes a stale lock and lets us try again
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            self.path = path
            return self
        raise OutputRefused(f"--output {self.out_dir}: could not take the lock {path}")

    def _judge_existing(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                held = json.loads(f.read() or b"{}")
        except (OSError, ValueError):
            held = {}
        pid, host = held.get("pid"), held.get("host")
        who = f"pid {pid} on host {host}, started {held.get('started_at')}, run {held.get('run_id')}"
        if host == socket.gethostname() and isinstance(pid, int):
            if _pid_alive(pid):
                raise OutputRefused(f"--output {self.out_dir}: another refinery run is writing there ({who}); "
                                    "wait for it to finish or choose another --output")
            self.warn(f"refinery: warning: stale lock {path} ({who}): that process is gone (killed?); "
                      "taking the folder over")
            os.remove(path)
            return
        raise OutputRefused(f"--output {self.out_dir}: locked by {who or 'an unreadable lock'} ({path}). "
                            "If no run is writing there, remove that file and run again.")

    def release(self) -> None:
        if self.path is None:
            return
        try:
            with open(self.path, "rb") as f:
                mine = json.loads(f.read() or b"{}").get("run_id") == self.run_id
            if mine:
                os.remove(self.path)
        except (OSError, ValueError):
            pass
        self.path = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _list_files(out_dir: str) -> list[str]:
    """Every entry under ``out_dir`` as a relative path (files, links and empty folders; links not followed)."""
    if not is_local(out_dir):
        found = FileSystems.match([FileSystems.join(out_dir, "**")])[0].metadata_list
        base = out_dir.rstrip("/") + "/"
        return sorted(m.path[len(base):] if m.path.startswith(base) else m.path for m in found)
    out = []
    for root, dirs, files in os.walk(out_dir, followlinks=False):
        rel_root = os.path.relpath(root, out_dir)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            out.append(os.path.normpath(os.path.join(rel_root, name)))
        if not dirs and not files and rel_root != ".":
            out.append(rel_root + os.sep)
    return sorted(out)


def _footer_run_id(path: str) -> str | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path).metadata or {}
    except Exception:  # noqa: BLE001 - not Parquet, or cut short: not provably ours
        return None
    value = meta.get(b"refinery.run_id")
    return value.decode() if value else None


def _owned(rel: str, manifest: dict, listed: set[str], out_dir: str) -> bool:
    """Whether the earlier run described by ``manifest`` wrote ``rel`` (a path relative to the folder)."""
    parts = rel.rstrip(os.sep).split(os.sep)
    if any(is_temp_name(p) for p in parts):
        return True
    if rel.endswith(os.sep):  # an empty folder in Refinery's layout
        return parts[0] in OUTPUT_KINDS + ("reports",)
    if rel in listed:
        return True
    if len(parts) == 1:
        if parts[0] == CARD_NAME and is_local(out_dir):  # a card this run wrote, not the user's README
            try:
                with open(os.path.join(out_dir, rel), encoding="utf-8", errors="replace") as f:
                    return card_run_id(f.read(1 << 22)) == manifest.get("run_id")
            except OSError:
                return False
        return parts[0] in _RUN_FILES
    if parts[0] == "reports":
        return (len(parts) == 2 and parts[1] in _REPORT_FILES) or (len(parts) == 3 and parts[1] == "_run")
    if parts[0] in OUTPUT_KINDS and _PART.search(parts[-1]) and is_local(out_dir):
        return _footer_run_id(os.path.join(out_dir, rel)) == manifest.get("run_id")
    return False


def _read_manifest(out_dir: str) -> dict | None:
    path = FileSystems.join(out_dir, "reports", "manifest.json")
    try:
        with FileSystems.open(path) as f:
            data = json.loads(f.read())
    except Exception:  # noqa: BLE001 - missing or unreadable: not provably a refinery output
        return None
    return data if isinstance(data, dict) and data.get("run_id") else None


def prepare_output(out_dir: str, overwrite: bool) -> list[str]:
    """Make ``out_dir`` ready for a run; returns the paths deleted (relative). Raises OutputRefused."""
    if is_local(out_dir) and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputRefused(f"--output {out_dir}: is a file, not a folder")
    entries = [e for e in _list_files(out_dir) if e != LOCK_NAME] if (
        not is_local(out_dir) or os.path.isdir(out_dir)) else []
    if not entries:
        if is_local(out_dir):
            os.makedirs(out_dir, exist_ok=True)
        return []
    if not overwrite:
        raise OutputRefused(f"--output {out_dir}: folder is not empty (an earlier run?). "
                            "Choose a new folder or pass --overwrite to replace an earlier run's output.")
    manifest = _read_manifest(out_dir)
    if manifest is None:
        raise OutputRefused(f"--output {out_dir}: --overwrite refused: the folder holds {_count(entries)} "
                            f"but no refinery manifest (reports/manifest.json), so it is not an earlier run's "
                            f"output: {_names(entries)}. Nothing was deleted; choose an empty or new folder.")
    listed = run_files(manifest)
    foreign = [e for e in entries if not _owned(e, manifest, listed, out_dir)]
    if foreign:
        raise OutputRefused(f"--output {out_dir}: --overwrite refused: {_count(foreign)} not written by "
                            f"the earlier run {manifest['run_id']}: {_names(foreign)}. Nothing was deleted; move "
                            "them away or choose another folder.")
    _delete(out_dir, entries)
    return entries


def _count(entries: list[str]) -> str:
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"


def _names(entries: list[str], limit: int = 6) -> str:
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _delete(out_dir: str, entries: list[str]) -> None:
    if not is_local(out_dir):
        FileSystems.delete([FileSystems.join(out_dir, e) for e in entries])
        return
    for e in entries:
        path = os.path.join(out_dir, e.rstrip(os.sep))
        if os.path.islink(path) or os.path.isfile(path):
            os.remove(path)
        elif os.path.isdir(path) and e.endswith(os.sep):
            os.rmdir(path)
    # Folders of Refinery's layout left empty (refined/lang=xx/, reports/_run/ ...), deepest first.
    for root, dirs, _files in sorted(os.walk(out_dir, topdown=False, followlinks=False), key=lambda t: -len(t[0])):
        for d in dirs:
            path = os.path.join(root, d)
            if not os.path.islink(path) and os.path.isdir(path) and not os.listdir(path):
                top = os.path.relpath(path, out_dir).split(os.sep)[0]
                if top in OUTPUT_KINDS + ("reports",) or is_temp_name(d):
                    shutil.rmtree(path)
