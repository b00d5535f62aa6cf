"""Runtime tuning, in one place: what makes a run faster without changing what it computes.

Stages and the driver call these by name; none of them changes a record, a decision or an output
file. Measurements behind each setting are in ``docs/PERFORMANCE.md``.

- Garbage collector: :func:`relax_worker_gc` (a worker's DoFn.setup) and :func:`collect_less_garbage`
  (the driver, while an in-process pipeline runs): a larger young generation and the objects built so
  far frozen out of the collector's walk.
- The in-process flag: :func:`single_process` — the runner executes the whole pipeline in this one
  process (Beam's DirectRunner in its default in-memory mode); it reaches the stages as
  :class:`refinery.stages.BuildContext`.
- Spare cores: :func:`usable_cpus`, :func:`suite_process` (Great Expectations imported in a second
  process while the pipeline runs) and :func:`warm_models_wanted` (language models preloaded in
  parallel when a worker starts).
- Job building: :func:`memoise_dofn_specs` — Beam's state/timer introspection of a DoFn computed
  once per DoFn instead of about five times per ParDo while the job is built and translated.
- Table caches: :func:`cached_table` — per-code-point tables built once per machine, stored under
  ``$REFINERY_CACHE_DIR`` and keyed by a digest of what they depend on (library versions and the
  bytecode of the function that builds them, :func:`code_key`).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

# Young-generation size of the cyclic garbage collector while records are held (Python's default: 700).
WORKER_GC_THRESHOLD = (50_000, 20, 100)


def relax_worker_gc() -> None:
    """Fewer, cheaper cyclic collections in this worker process (called from DoFn.setup).

    A worker holds a bundle's records — tens of thousands of dicts — and with the default thresholds
    every full collection walks them all. Objects built so far (modules, models) are frozen out of
    the walk. Idempotent; a process whose thresholds were already raised is left alone.
    """
    if gc.get_threshold()[0] < WORKER_GC_THRESHOLD[0]:
        gc.freeze()
        gc.set_threshold(*WORKER_GC_THRESHOLD)


@contextlib.contextmanager
def collect_less_garbage(enabled: bool) -> Iterator[None]:
    """The cyclic collector with :data:`WORKER_GC_THRESHOLD` while the pipeline runs in this process
    (the in-process runner holds every shuffle's records, and each full collection walks them all);
    objects built so far are frozen out of the walk. Restored afterwards."""
    if not enabled:
        yield
        return
    before = gc.get_threshold()
    gc.freeze()  # modules, models and config built so far are never garbage: keep them out of the walk
    gc.set_threshold(*WORKER_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


# Beam versions whose userstate.get_dofn_specs :func:`memoise_dofn_specs` has been read against.
_DOFN_SPECS_BEAM = ("2.56.",)


def memoise_dofn_specs() -> bool:
    """Compute Beam's state and timer specs of a DoFn once per DoFn instance (this process only).

    ``apache_beam.transforms.userstate.get_dofn_specs`` walks every method of a DoFn through
    ``inspect.signature``; Beam calls it about five times per ParDo while it builds, validates and
    translates a job (``is_stateful_dofn``, ``validate_stateful_dofn``, ``to_runner_api``), which is a
    good part of a small run's fixed cost. The answer depends only on the DoFn's methods, which do
    not change once it exists, so it is kept per instance (weakly: a DoFn that goes away takes its
    entry with it); a DoFn that cannot be weakly referenced or hashed is asked every time, as
    before. Only for the Beam versions read for it (``_DOFN_SPECS_BEAM``); idempotent. Returns
    whether the memo is in place."""
    import apache_beam as beam
    from apache_beam.transforms import userstate

    if getattr(userstate.get_dofn_specs, "_refinery_memo", False):
        return True
    if not beam.__version__.startswith(_DOFN_SPECS_BEAM):
        return False
    compute = userstate.get_dofn_specs
    memo: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_dofn_specs(dofn):
        try:
            state, timers = memo[dofn]
        except KeyError:
            state, timers = compute(dofn)
            memo[dofn] = (frozenset(state), frozenset(timers))
            return state, timers
        except TypeError:  # not hashable or not weakly referenceable
            return compute(dofn)
        return set(state), set(timers)  # fresh sets, as Beam's own function returns

    get_dofn_specs._refinery_memo = True
    userstate.get_dofn_specs = get_dofn_specs
    return True


def single_process(runner: str, all_opts: dict) -> bool:
    """True for Beam's DirectRunner in its default in-memory mode: one worker in this process."""
    return runner in ("DirectRunner", "direct") and all_opts.get("direct_running_mode", "in_memory") == "in_memory"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one: containers, taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# 'auto' preloads lingua's full models only for an input at least this large (bytes on disk). The
# preload holds the GIL for seconds, so a small run pays it in full whether or not any text needs the
# models; a large run meets short text anyway and gains the parallel load (docs/PERFORMANCE.md).
WARM_MODELS_MIN_BYTES = 10_000_000


def warm_models_wanted(setting, in_process: bool, cpus: int, input_bytes: int | None = None) -> bool:
    """``language.warm_models`` resolved for one worker: 'auto' preloads only where the parallel preload
    has idle cores to run on — one in-process worker on a machine with two or more CPUs — and only for
    an input of :data:`WARM_MODELS_MIN_BYTES` or more (``input_bytes`` None: unknown, taken as large).
    With several worker processes the cores are busy with the work, and on one core the preload costs
    more CPU than the lazy load."""
    if setting == "auto":
        big = input_bytes is None or input_bytes >= WARM_MODELS_MIN_BYTES
        return in_process and cpus >= 2 and big
    return bool(setting)


def suite_process(validation_enabled: bool, in_process: bool):
    """A process importing Great Expectations while the pipeline runs, where a spare core can do it:
    validation on, the pipeline in this one process, two or more CPUs, and no earlier run in this
    process has imported it already (then it costs nothing here). None: validate in this process."""
    if not (validation_enabled and in_process and usable_cpus() >= 2 and "great_expectations" not in sys.modules):
        return None
    from refinery.validators.worker import SuiteProcess  # starts the import of Great Expectations

    try:
        return SuiteProcess()
    except OSError:  # no process could be started: validate here, as before
        return None


def cache_dir() -> Path:
    """Where :func:`cached_table` keeps its files."""
    if os.environ.get("REFINERY_CACHE_DIR"):
        return Path(os.environ["REFINERY_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "refinery"


def code_key(fn: Callable) -> bytes:
    """The bytecode of ``fn``: part of a cached table's key, so a changed builder rebuilds its table
    (bump a version string in the key when a change would not show in it: a nested function)."""
    return fn.__code__.co_code


def cached_table(name: str, depends_on: str, build: Callable[[], np.ndarray]) -> np.ndarray:
    """``build()``'s array, read from the cache when one was stored for the same ``depends_on``.

    A missing, unreadable or stale file is rebuilt; where nothing can be written the table is built
    in each process."""
    digest = hashlib.sha256(f"{name}\n{depends_on}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}-{digest}.npy"
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        table = None
    if table is None:
        table = build()
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
                tmp = f.name
                np.save(f, table, allow_pickle=False)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
        except OSError:
            if tmp is not None:  # a partial file (disk full): not left behind
                Path(tmp).unlink(missing_ok=True)
    table.setflags(write=False)
    return table
