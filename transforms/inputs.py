"""Local input patterns → the exact files a run reads, matched once, before the pipeline is built.

Beam's own matcher re-globs every pattern on the workers, and its glob and Python's disagree (a
file named ``back\\slash.jsonl`` matched here was skipped there, silently). So local patterns are
expanded here, once, and the pipeline reads exactly this list; remote patterns (``gs://``) are still
matched by Beam when the pipeline runs.

Glob rules are Python's (``*``, ``?``, ``[...]`` within one path segment, ``**`` for any number of
folders, names starting with a dot only when the pattern segment does), with two differences that
keep a run bounded and honest:

- a symbolic link to a folder is followed unless it leads back to a folder already on the walk
  (a link loop is walked once, never forever);
- a broken symbolic link that a pattern names is an input: it becomes an ``errors/`` row saying it
  cannot be opened, instead of vanishing.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass, field


class InputError(ValueError):
    """An input pattern that cannot be run (matches nothing, is a folder ...); the message names it."""


def is_local(path: str) -> bool:
    return "://" not in path


@dataclass
class InputSet:
    """What a run reads: local files (absolute path, size or None) and remote patterns for Beam."""

    local_files: list[tuple[str, int | None]] = field(default_factory=list)
    remote_patterns: list[str] = field(default_factory=list)

    @property
    def local_bytes(self) -> int:
        return sum(size or 0 for _p, size in self.local_files)


def _segments(pattern: str) -> tuple[str, list[str]]:
    """(root folder without magic, the remaining segments) of an absolute pattern."""
    parts = pattern.split(os.sep)
    root_parts = []
    for i, part in enumerate(parts):
        if glob.has_magic(part):
            return os.sep.join(root_parts) or os.sep, parts[i:]
        root_parts.append(part)
    return pattern, []


def _visible(name: str, seg: str) -> bool:
    return not name.startswith(".") or seg.startswith(".")


def _walk(folder: str, segs: list[str], ancestors: frozenset, out: list[str]) -> None:
    """Append the paths under ``folder`` that match ``segs``; ``ancestors``: (dev, inode) of the walk."""
    try:
        st = os.stat(folder)
    except OSError:
        return
    key = (st.st_dev, st.st_ino)
    if key in ancestors:  # a link back to a folder on this walk: a loop
        return
    ancestors = ancestors | {key}
    seg, rest = segs[0], segs[1:]
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    if seg == "**":
        if rest:
            _walk(folder, rest, ancestors - {key}, out)  # zero folders
        else:
            out.extend(e.path for e in entries if _visible(e.name, "") and not _is_dir(e))
        for e in entries:
            if _visible(e.name, "") and _is_dir(e):
                _walk(e.path, segs, ancestors, out)  # one more folder
        return
    for e in entries:
        if not (_visible(e.name, seg) and fnmatch.fnmatchcase(e.name, seg)):
            continue
        if rest:
            if _is_dir(e):
                _walk(e.path, rest, ancestors, out)
        elif not _is_dir(e):
            out.append(e.path)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links: a link to a folder is a folder
    except OSError:
        return False


def match_local(pattern: str) -> list[str]:
    """Absolute paths of the files (and broken links) an absolute local pattern matches, sorted."""
    root, segs = _segments(pattern)
    if not segs:
        return [pattern] if os.path.lexists(pattern) and not os.path.isdir(pattern) else []
    out: list[str] = []
    _walk(root, segs, frozenset(), out)
    return sorted(set(out))


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def expand_inputs(patterns: list[str], strict: bool = True) -> InputSet:
    """Match every local pattern (``strict``: an error if one matches nothing or names a folder)."""
    result = InputSet()
    seen: set[str] = set()
    for pat in patterns:
        if not is_local(pat):
            result.remote_patterns.append(pat)
            continue
        pat = os.path.abspath(pat)
        if strict and os.path.isdir(pat) and not glob.has_magic(pat):
            raise InputError(f"--input {pat}: is a folder; give its files as a pattern, e.g. "
                             f"'{os.path.join(pat, '*')}' or '{os.path.join(pat, '**')}' for every sub-folder")
        files = match_local(pat)
        if not files and strict:
            raise InputError(f"--input {pat}: matches no file")
        for f in files:
            if f not in seen:
                seen.add(f)
                result.local_files.append((f, _size(f)))
    result.local_files.sort()
    result.remote_patterns = sorted(set(result.remote_patterns))
    return result


def pattern_matches(pattern: str, path: str) -> bool:
    """Whether an absolute local ``pattern`` would match the absolute ``path`` (same glob rules)."""
    segs = pattern.split(os.sep)
    parts = path.split(os.sep)

    def go(i: int, j: int) -> bool:
        if i == len(segs):
            return j == len(parts)
        if segs[i] == "**":
            return any(all(_visible(p, "") for p in parts[j:k]) and go(i + 1, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and _visible(parts[j], segs[i]) and fnmatch.fnmatchcase(parts[j], segs[i]) and go(
            i + 1, j + 1)

    return go(0, 0)


# Paths a run writes under its output folder: an input pattern that could match one of them would
# read the run's own output (the manifest, a refined file) as crude input.
_OUTPUT_PROBES = ("reports/manifest.json", "reports/_run/inputs.json", "refined/lang=en/part-00000-of-00001.parquet",
                  "rejected/part-00000-of-00001.parquet", "errors/part-00000-of-00001.parquet", "README.md")


def check_output_apart(out_dir: str, patterns: list[str], inputs: InputSet) -> None:
    """Refuse an output folder that holds an input file, lies inside one, or that an input pattern reaches."""
    if not is_local(out_dir):
        return
    out = os.path.realpath(os.path.abspath(out_dir))
    for path, _size in inputs.local_files:
        real = os.path.realpath(path)
        if real == out or real.startswith(out.rstrip(os.sep) + os.sep):
            raise InputError(f"--output {out_dir}: holds the input file {path}; a run's output folder must be "
                             "apart from its inputs (choose another --output)")
        if out.startswith(real.rstrip(os.sep) + os.sep):
            raise InputError(f"--output {out_dir}: lies inside the input {path}")
    for pat in patterns:
        if not is_local(pat):
            continue
        pat = os.path.abspath(pat)
        for probe in _OUTPUT_PROBES:
            for base in {os.path.abspath(out_dir), out}:
                if pattern_matches(pat, os.path.join(base, probe)):
                    raise InputError(f"--output {out_dir}: the input pattern {pat} reaches into it (it would read "
                                     f"the run's own {probe} as input); choose an --output outside the inputs")
