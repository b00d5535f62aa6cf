"""Peak resident memory of every process in a tree, sampled from ``/proc`` (Linux).

Each process's ``VmHWM`` is its own peak resident set as the kernel counts it, so sampling only has
to see a process before it exits; a process that grows in its last sampling interval and then exits
is under-counted by at most that interval's growth.
"""

from __future__ import annotations

import os
import threading


def _status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def label(cmdline: list[str]) -> str:
    """What a process of a refinery run is: cli, jvm (job server), worker_pool, sdk_worker, ..."""
    text = " ".join(cmdline)
    if cmdline and os.path.basename(cmdline[0]).startswith("java"):
        return "jvm"
    if "worker_pool_main" in text:
        return "worker_pool"
    if "SdkHarness" in text or "sdk_worker_main" in text:
        return "sdk_worker"
    if "benchmarks._measure" in text or "refinery" in text:
        return "cli"
    return os.path.basename(cmdline[0]) if cmdline else "?"


class TreeSampler:
    """Samples the tree under ``root_pid`` every ``interval`` seconds on a thread until :meth:`stop`.
    ``peaks()``: one row per process seen — pid, label, peak RSS in MB."""

    def __init__(self, root_pid: int, interval: float = 0.5):
        self.root, self.interval = root_pid, interval
        self._seen: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        todo, tree = [self.root], []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += _children(pid)
        for pid in tree:
            try:
                hwm = _status(pid).get("VmHWM", "0 kB")
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            except OSError:
                continue
            mb = int(hwm.split()[0]) / 1024
            row = self._seen.setdefault(pid, {"pid": pid, "label": label(cmd), "peak_rss_mb": 0.0})
            if row["label"] == "?" and cmd:  # first seen between fork and exec: no command line yet
                row["label"] = label(cmd)
            row["peak_rss_mb"] = max(row["peak_rss_mb"], round(mb, 1))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join()
        return self.peaks()

    def peaks(self) -> list[dict]:
        return sorted(self._seen.values(), key=lambda r: (r["label"], r["pid"]))
