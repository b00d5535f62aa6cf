"""Driver for one run: refuse a dirty output folder, build and run the pipeline, then write the
manifest, check the reconciliation and print the summary.

Post-run steps read only the small bookkeeping files the pipeline wrote (``reports/_run/``) and
read/write through Beam's FileSystems, so they work the same on local paths and on ``gs://``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import apache_beam as beam
import orjson
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

import refinery
from refinery import progress
from refinery.atomic import remove_success, write_atomic, write_success
from refinery.pipelines import engines
from refinery.pipelines.config import RunConfig
from refinery.pipelines.failfast import error_share_failure, preflight
from refinery.pipelines.options import config_options
from refinery.pipelines.outdir import OutputLock, OutputRefused, prepare_output
from refinery.pipelines.refine import RUN_DIR, build_pipeline, remove_staging, stages_status
from refinery.pipelines.scrub import install_log_scrubbing, scrub_options, scrub_secrets
from refinery.runtime import collect_less_garbage, memoise_dofn_specs, single_process, suite_process
from refinery.schemas import SCHEMA_VERSION
from refinery.schemas.manifest import manifest_json
from refinery.transforms.inputs import InputError, InputSet, check_output_apart, expand_inputs, is_local


class RunFailed(RuntimeError):
    """The run finished but broke an invariant (e.g. reconciliation); the message names the file."""


@dataclass
class RunResult:
    manifest: dict
    exit_code: int
    messages: list[str] = field(default_factory=list)


def new_run_id() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def git_commit() -> str | None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def redact_options(options: dict) -> dict:
    """Pipeline options with credentials, tokens, keys and service-account details redacted: secret-named
    keys whole, every other value scrubbed (URL userinfo and query values, named and token-like values;
    :mod:`refinery.pipelines.scrub`)."""
    return scrub_options(options)


# Beam's multi_processing DirectRunner has lost records on large inputs where the in-process mode ran the
# same input correctly (docs/PERFORMANCE.md, "Runner behaviour"). Above this size the run warns.
MULTIPROCESS_WARN_BYTES = 100_000_000


def local_input_bytes(patterns: list[str]) -> int:
    """Bytes of the local files the patterns match (remote patterns count 0: they are matched at run time)."""
    return expand_inputs(patterns).local_bytes


def _write_json(path: str, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=str).encode())


def _write_manifest(path: str, manifest: dict) -> None:
    """``reports/manifest.json``, validated by :class:`refinery.schemas.manifest.Manifest` first."""
    _write_json(path, manifest_json(manifest))


def _read_json(path: str):
    with FileSystems.open(path) as f:
        return orjson.loads(f.read())


def _counters(result) -> dict[str, dict[str, int]]:
    """Beam counters by namespace (the ``refinery.timing`` busy clocks included; see :func:`split_timing`)."""
    out: dict[str, dict[str, int]] = {}
    try:
        counters = progress.fresh_metrics(result).query()["counters"]
    except Exception:  # noqa: BLE001 - some runners expose no metrics; the manifest says so
        return out
    for c in counters:
        ns, name = c.key.metric.namespace, c.key.metric.name
        if ns == "beam":  # a portable runner's own system metrics (execution times, element counts)
            continue
        value = c.committed if c.committed is not None else c.attempted
        out.setdefault(ns, {})
        out[ns][name] = out[ns].get(name, 0) + int(value or 0)
    return {ns: dict(sorted(v.items())) for ns, v in sorted(out.items())}


def split_timing(counters: dict) -> tuple[dict, dict[str, float]]:
    """(record counters, busy seconds per stage) — busy clocks are not record counts."""
    from refinery.transforms.beam.stage import TIMING_NS

    counters = dict(counters)
    timing = counters.pop(TIMING_NS, {})
    busy = {k.removesuffix("_us"): round(v / 1e6, 3) for k, v in sorted(timing.items())}
    return counters, busy


def reconcile(inputs: list[dict], outputs: list[dict]) -> dict:
    """Per input file: records read == refined + rejected + errors rows attributed to it."""
    per: dict[str, dict[str, int]] = {}
    for f in outputs:
        for uri, n in f["per_source"].items():
            d = per.setdefault(uri, {"refined": 0, "rejected": 0, "errors": 0})
            d[f["kind"]] += n
    files = []
    ok = True
    for inp in sorted(inputs, key=lambda d: d["uri"]):
        got = per.pop(inp["uri"], {"refined": 0, "rejected": 0, "errors": 0})
        total = got["refined"] + got["rejected"] + got["errors"]
        good = total == inp["records"]
        ok &= good
        files.append({"uri": inp["uri"], "records": inp["records"], **got, "ok": good})
    for uri, got in sorted(per.items()):  # rows attributed to no input file
        ok = False
        files.append({"uri": uri, "records": 0, **got, "ok": False})
    return {"ok": ok, "files": files}


_collect_garbage_less = collect_less_garbage  # the name the tests and older callers use


def _suite_process(cfg: RunConfig, in_process: bool):
    """:func:`refinery.runtime.suite_process` for this run's config."""
    return suite_process(cfg.validation.enabled, in_process)


def run(inputs: list[str], out_dir: str, cfg: RunConfig, beam_args: list[str] | None = None,
        overwrite: bool = False, quiet: bool = False, config_path: str | None = None,
        validate_aside: bool = False, sign_key=None, suite=None) -> RunResult:
    """Run the refinery; returns the manifest and the exit code (0 ok, 1 invariant broken).
    ``validate_aside``: import the expectation suite in a second process while the pipeline runs
    (:func:`refinery.runtime.suite_process`; the CLI does: docs/PERFORMANCE.md).
    ``sign_key``: a :class:`~refinery.validators.signing.ManifestKey` that signs the final manifest.
    ``suite``: a :class:`~refinery.validators.worker.SuiteProcess` the caller started already (the CLI
    starts it before importing Beam); the caller closes it if the run ends before using it."""
    beam_args = list(beam_args or [])
    # Local inputs are named by absolute path, so doc_ids do not depend on the working directory.
    inputs = [p if not is_local(p) else os.path.abspath(p) for p in inputs]
    options = PipelineOptions(beam_args, **config_options(cfg))  # the config as options: Dataflow's UI, manifest
    all_opts = options.get_all_options(drop_default=True, retain_unknown_options=True)
    dry_run = bool(all_opts.get("dry_run"))
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    run_id = new_run_id()
    input_set: InputSet | None = None
    lock = OutputLock(out_dir, run_id, warn=lambda m: print(m, file=sys.stderr))
    if not dry_run:
        input_set = _checked_inputs(inputs, out_dir, cfg, lock)
    try:
        if not dry_run:
            try:
                prepare_output(out_dir, overwrite)
            except OutputRefused as exc:
                raise RunFailed(str(exc)) from None
            remove_success(out_dir)  # an earlier run's marker must not vouch for this run's partial files
            if all_opts.get("direct_running_mode") == "multi_processing" and runner in ("DirectRunner", "direct"):
                size = input_set.local_bytes
                if size > MULTIPROCESS_WARN_BYTES:
                    print(f"refinery: warning: {size / 1e9:.1f} GB of input on the multi_processing DirectRunner: "
                          "Beam's local multi-process mode was seen to lose records on inputs this large (the "
                          "reconciliation would fail the run). Prefer the default in-process mode or Dataflow.",
                          file=sys.stderr)
        identity = {"run_id": run_id, "refinery_version": refinery.__version__, "config_sha256": cfg.sha256()}
        manifest = {
            "run_id": run_id,
            "status": "running",
            "started_at": _dt.datetime.now(_dt.UTC).isoformat(),
            "finished_at": None,
            "refinery_version": refinery.__version__,
            "schema_version": SCHEMA_VERSION,
            "git_commit": git_commit(),
            "beam_version": beam.__version__,
            "python_version": platform.python_version(),
            "runner": runner,
            "pipeline_options": redact_options(all_opts),
            "config_path": config_path,
            "config": cfg.model_dump(mode="json"),
            "config_sha256": identity["config_sha256"],
            "stages": stages_status(cfg),
            "input_patterns": scrub_secrets(inputs),
        }
        manifest_path = FileSystems.join(out_dir, "reports", "manifest.json")
        if not dry_run:
            _write_manifest(manifest_path, manifest)
            _lineage("START", manifest, out_dir, cfg)
        t0 = time.monotonic()
        engine = _start_engine(runner, beam_args, manifest, manifest_path, quiet) if not dry_run else None
        if engine is not None:
            options = PipelineOptions(engine.beam_args, **config_options(cfg))
            manifest["pipeline_options"] = redact_options(
                options.get_all_options(drop_default=True, retain_unknown_options=True))
        try:
            p = beam.Pipeline(options=options)
        except ValueError as exc:  # Beam's own option validation (e.g. a malformed Dataflow project id)
            if engine is not None:
                engine.close()
            raise RunFailed(f"pipeline options: {exc}") from None
        memoise_dofn_specs()
        in_process = single_process(runner, all_opts)
        if suite is None and validate_aside and not dry_run:  # else: the caller started one already
            suite = _suite_process(cfg, in_process)
        live = not quiet and not dry_run and (in_process or engine is not None)  # a progress line from here
        interrupt = _Interrupt(manifest, manifest_path, out_dir, cfg, engine, lock) if not dry_run else None
        try:
            build_pipeline(p, inputs, out_dir, cfg, identity, progress=not quiet and not live,
                           spread_records=not in_process, input_set=input_set, bounded_bundles=engine is not None,
                           parallelism=engine.facts.get("parallelism", 1) if engine is not None else 1)
            total = input_set.local_bytes if input_set is not None and not input_set.remote_patterns else None
            with interrupt or contextlib.nullcontext():
                result = _execute(p, in_process, dry_run, _progress_stages(cfg) if live else None,
                                  total, engine.progress_dir if engine is not None else None)
            if result is None:
                return RunResult(manifest={**manifest, "status": "dry_run"}, exit_code=0,
                                 messages=["dry run: the complete job was built and translated; nothing was submitted"])
            counters = _counters(result)  # a portable job's metrics live in its job server: ask before it stops
        except BaseException as exc:
            if suite is not None:
                suite.close()
            failure = _engine_failure(engine, exc)
            manifest.update(status="failed", error=scrub_secrets(f"{type(failure).__name__}: {failure}"),
                            finished_at=_dt.datetime.now(_dt.UTC).isoformat())
            _lineage("FAIL", manifest, out_dir, cfg)
            _write_manifest(manifest_path, manifest)
            raise failure  # noqa: B904 - exc itself, or an EngineError whose __cause__ is exc
        finally:
            if engine is not None:
                engine.close()
                remove_staging(out_dir)
        wall = time.monotonic() - t0
        return finish(out_dir, manifest, counters, wall, cfg, suite, sign_key)
    finally:
        lock.release()


def _engine_failure(engine, exc: BaseException) -> BaseException:
    """``exc``, or an EngineError saying why where the job server died under the run (Beam's client
    says only that its gRPC stream closed); a Ctrl-C is left as it is."""
    if engine is None or isinstance(exc, KeyboardInterrupt):
        return exc
    died = engine.died()
    if died is None:
        return exc
    failure = engines.EngineError(died)
    failure.__cause__ = exc
    return failure


def _checked_inputs(inputs: list[str], out_dir: str, cfg: RunConfig, lock: OutputLock) -> InputSet:
    """The inputs expanded and checked before anything is written (apart from the output, readable, the
    prior dedup indexes there), then the output folder locked; a problem is a :class:`RunFailed`."""
    try:
        input_set = expand_inputs(inputs)
        check_output_apart(out_dir, inputs, input_set)
        preflight(input_set, cfg)
        if cfg.dedup.enabled and cfg.dedup.against:
            from refinery.transforms.beam.dedup_index import prior_index_files

            if any(os.path.abspath(a) == os.path.abspath(out_dir) for a in cfg.dedup.against):
                raise InputError(f"--dedup-against {out_dir}: that is this run's output; earlier releases "
                                 "are never changed")
            prior_index_files(cfg)
        lock.acquire()
    except (InputError, OutputRefused) as exc:
        raise RunFailed(str(exc)) from None
    return input_set


def _execute(p: beam.Pipeline, in_process: bool, dry_run: bool, stages: list[str] | None, total: int | None,
             progress_dir: str | None = None):
    """Run the job to its end; None for a dry run (or a runner that returns no result). ``stages``: show
    the progress line (:mod:`refinery.progress`) with these stages' counters; None: no line. In this
    process the stages note their counters in a tally the line reads; the worker processes of a local
    engine write theirs to ``progress_dir``; otherwise the job server is asked for the running job's
    metrics."""
    reporter = None
    if stages is not None and in_process:
        reporter = progress.Reporter(progress.enable().snapshot, stages, total).start()
    try:
        with _collect_garbage_less(in_process and not dry_run):
            result = p.run()
    finally:
        if reporter is not None:
            reporter.stop()
            progress.disable()
    if dry_run or result is None:
        return None
    if stages is not None and not in_process:
        if progress_dir:  # the workers refinery started write their counters there
            reporter = progress.Reporter(lambda: progress.worker_values(progress_dir) or {}, stages, total).start()
        else:
            reporter = progress.Reporter(lambda: progress.metrics_values(result), stages, total).start()
    try:
        result.wait_until_finish()
    finally:
        if reporter is not None:
            reporter.stop()
    return result


def _progress_stages(cfg) -> list[str]:
    """The stages whose counters the progress line shows, in pipeline order: ingest (the source), then
    every enabled record stage."""
    from refinery.stages import record_stages

    return ["ingest"] + [s.name for s in record_stages() if s.is_enabled(cfg)]


class _Interrupt:
    """While the job runs, Ctrl-C (SIGINT) or a SIGTERM (``kill``, a scheduler's stop) ends the run within
    moments: one line on stderr, the manifest marked ``failed`` with error ``interrupted`` /
    ``terminated`` (and the lineage FAIL event), the engine stopped with its temporary files and the
    run's staging files removed, the output lock released, exit status 130 / 143. Beam's own unwinding
    of an interrupted job took tens of seconds and printed a long traceback, and a terminated run left
    the job server's spill files (GBs) behind. Files already complete stay; no ``_SUCCESS`` is written.
    Installed only from the main thread (where Python delivers signals); elsewhere a no-op."""

    SIGNALS = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}

    def __init__(self, manifest, manifest_path, out_dir, cfg, engine, lock):
        self.args = (manifest, manifest_path, out_dir, cfg, engine, lock)
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._stop) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}
        return False

    def _stop(self, signum, _frame):
        manifest, manifest_path, out_dir, cfg, engine, lock = self.args
        what, status = self.SIGNALS.get(signum, ("interrupted", 130))
        progress.stop_all()
        # Beam's threads that watch the job (its state and message streams) fail once the job server
        # stops under them: the run is ending, their tracebacks would only bury the line below.
        threading.excepthook = lambda _args: None
        print(f"\nrefinery: {what}: the run stopped; its output is incomplete (no _SUCCESS). "
              f"Run it again with --overwrite to replace {out_dir}.", file=sys.stderr, flush=True)
        try:
            manifest.update(status="failed", error=what,
                            finished_at=_dt.datetime.now(_dt.UTC).isoformat())
            _write_manifest(manifest_path, manifest)
            _lineage("FAIL", manifest, out_dir, cfg)
            if engine is not None:
                engine.close()
                remove_staging(out_dir)
        finally:
            lock.release()
            os._exit(status)


def _start_engine(runner: str, beam_args: list[str], manifest: dict, manifest_path: str, quiet: bool):
    """Flink or Spark: job server + worker pool started (:mod:`refinery.pipelines.engines`); else None."""
    try:
        engine = engines.prepare(runner, beam_args, quiet=quiet)
    except engines.EngineError as exc:
        manifest.update(status="failed", error=str(exc), finished_at=_dt.datetime.now(_dt.UTC).isoformat())
        _write_manifest(manifest_path, manifest)
        raise RunFailed(str(exc)) from None
    if engine is not None:
        manifest["engine"] = engine.facts
    return engine


def finish(out_dir: str, manifest: dict, counters: dict, wall_s: float, cfg: RunConfig | None = None,
           suite=None, sign_key=None) -> RunResult:
    """Post-run: reconciliation, output facts, manifest."""
    run_dir = FileSystems.join(out_dir, RUN_DIR)
    inputs = _read_json(FileSystems.join(run_dir, "inputs.json"))
    outputs = _read_json(FileSystems.join(run_dir, "outputs.json"))
    outputs += write_empty_parts(out_dir, manifest, outputs, cfg)
    rec = reconcile(inputs, outputs)
    counters, busy = split_timing(counters)
    totals = {k: sum(f["rows"] for f in outputs if f["kind"] == k) for k in ("refined", "rejected", "errors")}
    in_bytes = sum(i["bytes"] or 0 for i in inputs)
    manifest.update(
        status="succeeded" if rec["ok"] else "failed",
        finished_at=_dt.datetime.now(_dt.UTC).isoformat(),
        wall_seconds=round(wall_s, 3),
        inputs=[{**{k: i[k] for k in ("uri", "bytes", "sha256", "records", "blank_lines", "format", "encoding",
                                      "compression")},
                 **{k: i[k] for k in ("non_document_records", "non_text_payloads") if i.get(k)}}
                for i in sorted(inputs, key=lambda d: d["uri"])],
        outputs=[{k: o[k] for k in ("kind", "path", "partition", "rows", "bytes", "sha256")}
                 for o in sorted(outputs, key=lambda d: d["path"])],
        totals={"records": sum(i["records"] for i in inputs), "input_bytes": in_bytes, **totals},
        counters=counters,
        busy_seconds=busy,
        reconciliation=rec,
    )
    messages = []
    code = 0
    if not rec["ok"]:
        bad = [f for f in rec["files"] if not f["ok"]]
        for f in bad:
            messages.append(scrub_secrets(f"reconciliation FAILED for {f['uri']}: read {f['records']} records, "
                                          f"wrote {f['refined']} refined + {f['rejected']} rejected + "
                                          f"{f['errors']} errors"))
        manifest["error"] = messages[0]
        code = 1
    if cfg is not None:
        whole = error_share_failure(rec, outputs, cfg.run.max_error_share)
        if whole is not None:  # everything is written: the run failed as a whole, and says where
            messages.append(scrub_secrets(f"run FAILED: {whole}"))
            manifest["status"] = "failed"
            manifest.setdefault("error", messages[-1])
            code = 1
    validation = None
    if cfg is not None and cfg.validation.enabled:
        t0 = time.monotonic()
        vcode, validation = _validate(out_dir, manifest, cfg, messages, suite)
        code = max(code, vcode)
        manifest["validation_seconds"] = round(time.monotonic() - t0, 3)
    write_card(out_dir, manifest, cfg)
    if cfg is not None:
        _lineage("COMPLETE" if code == 0 else "FAIL", manifest, out_dir, cfg, validation)
    seal_output(out_dir, manifest, sign_key)
    return RunResult(manifest=manifest, exit_code=code, messages=messages)


def write_empty_parts(out_dir: str, manifest: dict, outputs: list[dict], cfg: RunConfig | None) -> list[dict]:
    """A schema-only Parquet file (``part-00000-of-00001.parquet``, no rows, the run's footer) for each
    of refined/ rejected/ errors/ that got no row, so ``pq.read_table(OUT/errors)`` reads an empty
    table of the documented columns instead of raising. Returns their facts for the manifest."""
    import hashlib
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from refinery.schemas import ERRORS_SCHEMA, REJECTED_SCHEMA, with_run_metadata
    from refinery.transforms.beam.write import refined_file_schema

    footer = {"run_id": manifest["run_id"], "config_sha256": manifest["config_sha256"],
              "refinery_version": manifest["refinery_version"]}
    compression = cfg.output.compression if cfg is not None else "zstd"
    facts = []
    for kind, schema in (("refined", refined_file_schema()), ("rejected", REJECTED_SCHEMA), ("errors", ERRORS_SCHEMA)):
        if any(o["kind"] == kind for o in outputs):
            continue
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([], schema=with_run_metadata(schema, footer)), buf,
                       compression=None if compression == "none" else compression)
        data = buf.getvalue()
        path = FileSystems.join(out_dir, kind, "part-00000-of-00001.parquet")
        write_atomic(path, data)
        facts.append({"kind": kind, "path": path, "partition": None, "rows": 0, "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest(), "per_source": {}})
    return facts


def write_card(out_dir: str, manifest: dict, cfg: RunConfig | None) -> None:
    """The Hugging Face dataset card ``README.md`` at the output root (:mod:`refinery.validators.card`)."""
    from refinery.validators.card import CARD_NAME, render_card

    agg_path = FileSystems.join(out_dir, RUN_DIR, "aggregates.json")
    aggregates = _read_json(agg_path) if FileSystems.exists(agg_path) else {}
    order = ["ingest", *(manifest.get("stages") or {}), "write"]
    write_atomic(FileSystems.join(out_dir, CARD_NAME), render_card(manifest, aggregates, order).encode())


def seal_output(out_dir: str, manifest: dict, sign_key=None) -> None:
    """The last writes of a run, in this order: the manifest (with the sha256 of every report written
    before it), its signature when a key was given, then ``_SUCCESS`` if the run succeeded."""
    from refinery.validators.integrity import report_file_facts

    manifest["report_files"] = report_file_facts(out_dir)
    if sign_key is not None:
        manifest["signature"] = {"algorithm": sign_key.algorithm, "key_id": sign_key.key_id,
                                 "file": "reports/manifest.json.sig"}
    _write_manifest(FileSystems.join(out_dir, "reports", "manifest.json"), manifest)
    if sign_key is not None:
        from refinery.validators.signing import sign_manifest

        sign_manifest(out_dir, sign_key)
    if manifest.get("status") == "succeeded":
        write_success(out_dir)


def _lineage(state: str, manifest: dict, out_dir: str, cfg: RunConfig, validation: dict | None = None) -> None:
    """OpenLineage event; a lineage backend that cannot be reached is noted, never fatal."""
    if not cfg.validation.openlineage:
        return
    from refinery.validators.lineage import build_event, emit

    try:
        emit(build_event(state, manifest, scrub_secrets(out_dir), validation), out_dir)
    except Exception as exc:  # noqa: BLE001 - lineage is reporting, not the data: say so in the manifest
        manifest.setdefault("warnings", []).append(
            scrub_secrets(f"openlineage {state} event not delivered: {type(exc).__name__}: {exc}"))


def _validate(out_dir: str, manifest: dict, cfg: RunConfig, messages: list[str], suite=None) -> tuple[int, dict]:
    """Run the expectation suite on the pipeline's aggregates; write the reports. 1 on a critical failure.
    ``suite``: a :class:`~refinery.validators.worker.SuiteProcess` to run it in, else this process."""
    from refinery.validators.reports import write_reports

    if suite is None:
        from refinery.validators.suite import run_suite
    else:
        run_suite = suite.run_suite
    agg = _read_json(FileSystems.join(out_dir, RUN_DIR, "aggregates.json"))
    result = run_suite(cfg, agg, manifest, agg.pop("refined_sample"), agg.pop("rejected_sample"))
    manifest["validation"] = {"success": result["success"], "critical_failures": result["critical_failures"],
                              "warnings": result["warnings"], "checks": len(result["checks"])}
    write_reports(out_dir, manifest, agg, result)
    for c in result["checks"]:
        if not c["success"]:
            level = "FAILED (critical)" if c["severity"] == "critical" else "warning"
            messages.append(f"expectation {c['id']} {level}: {c['description']} — observed {c['observed']}")
    if not result["success"]:
        manifest["status"] = "failed"
        manifest.setdefault("error", f"validation failed: {', '.join(result['critical_failures'])}")
        return 1, result
    return 0, result


def summary_table(manifest: dict) -> str:
    """Human summary of a finished run (also used by ``refinery inspect``)."""
    lines = []
    t = manifest.get("totals", {})
    wall = manifest.get("wall_seconds") or 0
    mb = (t.get("input_bytes") or 0) / 1e6
    lines.append(f"run {manifest['run_id']}  status={manifest['status']}  runner={manifest.get('runner')}")
    if wall:
        lines.append(f"{t.get('records', 0):,} records, {mb:,.2f} MB in {wall:,.1f} s "
                     f"({mb / wall:,.2f} MB/s, {t.get('records', 0) / wall:,.0f} docs/s)")
    lines.append(f"refined {t.get('refined', 0):,}   rejected {t.get('rejected', 0):,}   errors {t.get('errors', 0):,}")
    lines.append("")
    busy = manifest.get("busy_seconds") or {}
    lines.append(f"{'stage':<10} {'seen':>9} {'kept':>9} {'busy s':>8}  dropped / errors")
    counters = manifest.get("counters", {})
    order = [ns for ns in ("ingest", *(manifest.get("stages") or {}), "write") if ns in counters]
    for ns in order + [ns for ns in counters if ns not in order]:  # pipeline order, then anything else
        c = counters[ns]
        drops = ", ".join(f"{k.split(':', 1)[1]}={v:,}" for k, v in c.items() if k.startswith(("dropped:", "error:")))
        b = f"{busy[ns]:>8,.1f}" if ns in busy else f"{'':>8}"
        lines.append(f"{ns:<10} {c.get('seen', 0):>9,} {c.get('kept', 0):>9,} {b}  {drops}")
    rec = manifest.get("reconciliation")
    if rec:
        lines.append("")
        lines.append(f"reconciliation: {'OK' if rec['ok'] else 'FAILED'} over {len(rec['files'])} input files")
        files = rec["files"]
        shown = [f for f in files if not f["ok"]] + [f for f in files if f["ok"]]
        if len(shown) > 25:
            hidden = len(shown) - 25
            shown = shown[:25]
        else:
            hidden = 0
        for f in shown:
            flag = "ok " if f["ok"] else "BAD"
            lines.append(f"  {flag} {f['records']:>8,} read = {f['refined']:>8,} refined + "
                         f"{f['rejected']:>7,} rejected + {f['errors']:>6,} errors  {os.path.basename(f['uri'])}")
        if hidden:
            lines.append(f"  ... {hidden:,} more input files (all in reports/manifest.json)")
    return "\n".join(lines)


def main_run(inputs, out_dir, cfg, beam_args, overwrite, quiet, config_path, sign_key=None, suite=None) -> int:
    install_log_scrubbing()  # Beam's own warnings echo patterns and options
    try:
        res = run(inputs, out_dir, cfg, beam_args, overwrite=overwrite, quiet=quiet, config_path=config_path,
                  validate_aside=True, sign_key=sign_key, suite=suite)
    except RunFailed as exc:
        print(scrub_secrets(f"refinery: error: {exc}"), file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the manifest already records the failure
        print(scrub_secrets(f"refinery: run FAILED: {type(exc).__name__}: {exc}\n"
                            f"(the manifest in {out_dir}/reports says so; rerun with --overwrite after fixing "
                            "the cause)"), file=sys.stderr)
        return 1
    for m in res.messages:
        print(f"refinery: {scrub_secrets(m)}", file=sys.stderr)
    if not quiet and res.manifest.get("status") not in ("dry_run",):
        print(scrub_secrets(summary_table(res.manifest)), file=sys.stderr)
        manifest_path = FileSystems.join(out_dir, "reports", "manifest.json")
        print(scrub_secrets(f"\noutput: {out_dir}  (manifest: {manifest_path})"), file=sys.stderr)
    return res.exit_code
