"""``refinery`` command line: run, inspect, explain, validate, config."""

from __future__ import annotations

import argparse
import atexit
import difflib
import functools
import json
import os
import sys
import textwrap

# The labelling commands read a release file after file, and each read frees its buffers. Arrow's
# allocator (jemalloc) keeps freed pages resident for a while by default, longer than these commands
# take, so their peak memory grew with the number and size of the files read rather than staying that
# of the largest read. jemalloc reads its options once, when pyarrow is first imported: so they are set
# here, before any import of pyarrow, for those commands only, and only where the user set none.
_RELEASE_READERS = ("sample", "diff", "export", "labels")
if sys.argv[1:2] and sys.argv[1] in _RELEASE_READERS and "pyarrow" not in sys.modules:
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

RUN_EPILOG = """\
examples:
  refinery run --input 'examples/sample/*' --output out/demo
  refinery run my.yaml --input 'data/*.jsonl.gz' --output out/r1 --set dedup.threshold=0.85
  refinery run --input 'crude/*.jsonl' --output out/r2 --runner FlinkRunner --parallelism 2
  refinery run --input 'gs://bucket/crude/*.jsonl.gz' --output gs://bucket/refined \\
      --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\
      --setup_file ./setup.py

Every config key is a flag too, named as the key with _ for . (dedup.threshold: --dedup_threshold=0.85,
quality.thresholds.min_words: --quality_thresholds_min_words=40); the value is YAML, as for --set. The
later wins: the defaults, CONFIG, these key flags, --set. The run's pipeline options hold the whole
resolved config (the manifest's pipeline_options; Dataflow's job page); `refinery template` writes a
Flex Template metadata.json with these parameters.

Any other flag refinery does not know is passed to Beam's PipelineOptions (--runner, --parallelism,
--direct_num_workers, Dataflow flags, ...); write Beam flags as --flag=value when in doubt. CONFIG is a
YAML file (see `refinery config --defaults`); --set overrides one key (YAML value) and may repeat.
--runner FlinkRunner / SparkRunner: refinery fetches Beam's job server with Maven (needs Java and Maven)
and runs the Python stages in --parallelism worker processes (README "Scaling out").

exit status: 0 run succeeded; 1 the run finished but an invariant failed (reconciliation,
critical expectation) — the message names the file; 2 bad usage, config or input.

output: files appear under their final names only once complete; the manifest is written last, then
OUT/_SUCCESS (only when the run succeeded) — readers wait for _SUCCESS.
"""


@functools.lru_cache(maxsize=1)
def beam_flags() -> frozenset[str]:
    """Every flag of Beam's PipelineOptions (all runners' option classes): what may pass through to Beam."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from refinery.pipelines import (
        engines,  # noqa: F401 - declares the engine flags Beam does not (--flink_conf_dir)
        options,  # noqa: F401 - the config keys as options (--dedup_threshold ...)
    )

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    parser = argparse.ArgumentParser(conflict_handler="resolve", add_help=False)
    for cls in {PipelineOptions, *subclasses(PipelineOptions)}:
        try:
            cls._add_argparse_args(parser)
        except Exception:  # noqa: BLE001,S112 - an options class that cannot describe itself adds no flags
            continue
    return frozenset(o for a in parser._actions for o in a.option_strings if o.startswith("--"))


def _split_run_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="refinery run",
        usage="refinery run [CONFIG.yaml] --input PATTERN [--input PATTERN ...] --output DIR "
              "[--set KEY=VALUE ...] [--overwrite] [--quiet] [--sign-key KEYFILE] [BEAM FLAGS ...]",
        description="Refine crude text files into refined/ rejected/ errors/ Parquet with a manifest.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", "-i", action="append", required=True, metavar="PATTERN",
                        help="input file or glob (local or gs://); repeat for several. Formats: "
                             "JSONL[.gz|.zst], Parquet, .txt, WARC/WET/ARC[.gz]")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder (must be empty or new)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a config key by dotted path, e.g. --set language.allowed='[en, zh]'")
    parser.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --output")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines or summary on stderr")
    parser.add_argument("--dedup-against", action="append", default=[], metavar="PREV_OUT", dest="dedup_against",
                        help="an earlier output folder (or `refinery overlap` decisions folder) to deduplicate "
                             "against through its index/ (no text read, nothing changed there); may repeat; "
                             "adds to dedup.against")
    parser.add_argument("--sign-key", metavar="KEYFILE", dest="sign_key",
                        help="sign reports/manifest.json (to reports/manifest.json.sig) with an Ed25519 private key "
                             "(PEM or OpenSSH) or a raw HMAC-SHA256 secret of >= 32 bytes; "
                             "`refinery validate --verify-key` checks it")
    # Pull the config path out first: a YAML path is refinery's, anything unknown is Beam's.
    config = None
    rest = []
    for i, tok in enumerate(argv):
        if config is None and not tok.startswith("-") and tok.lower().endswith((".yaml", ".yml")) and (
            i == 0 or not argv[i - 1].startswith("-") or "=" in argv[i - 1]
            or argv[i - 1] in ("--overwrite", "--quiet", "-q")
        ):
            config = tok
        else:
            rest.append(tok)
    if any(t in ("-h", "--help") for t in argv):
        parser.parse_args(["--help"])
    args, beam_args = parser.parse_known_args(rest)
    if beam_args and not beam_args[0].startswith("-"):
        parser.error(f"unexpected argument {beam_args[0]!r} (a config file must end in .yaml or .yml)")
    for tok in beam_args:
        name = tok.split("=", 1)[0]
        if name.startswith("--") and name not in beam_flags():
            ours = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
            close = difflib.get_close_matches(name, ours + sorted(beam_flags()), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else " (see `refinery run --help`; Beam's flags pass through)"
            parser.error(f"unknown flag {name}{hint}")
    args.config = config
    return args, beam_args


def resolve_run(argv: list[str]):
    """``refinery run``'s arguments → (parsed args, config, the flags left for Beam). The config is the
    defaults, then the YAML file, then the config keys given as options (``--dedup_threshold=0.85``), then
    ``--set``: the later wins. Raises ConfigError naming the key."""
    from refinery.pipelines.config import load_config

    args, beam_args = _split_run_args(argv)
    option_sets: list[str] = []
    if beam_args:  # Beam is imported already (the flags were checked against its options)
        from refinery.pipelines.options import option_overrides

        option_sets, beam_args = option_overrides(beam_args)
    cfg = load_config(args.config, option_sets + args.overrides)
    if args.dedup_against:
        cfg.dedup.against = list(cfg.dedup.against) + [
            p if "://" in p else os.path.abspath(p) for p in args.dedup_against]
    return args, cfg, beam_args


def cmd_run(argv: list[str]) -> int:
    from refinery.pipelines.config import ConfigError

    try:
        args, cfg, beam_args = resolve_run(argv)
    except ConfigError as exc:
        print(f"refinery: config error:\n{exc}", file=sys.stderr)
        return 2
    sign_key = None
    if args.sign_key:
        from refinery.validators.signing import KeyFileError, load_signing_key

        try:
            sign_key = load_signing_key(args.sign_key)
        except KeyFileError as exc:
            print(f"refinery: --sign-key {exc}", file=sys.stderr)
            return 2
    suite = _early_suite(cfg, beam_args)
    try:
        from refinery.pipelines.run import main_run  # imports Beam: ~1.5 s the suite's import overlaps

        return main_run(args.input, args.output, cfg, beam_args, args.overwrite, args.quiet, args.config,
                        sign_key=sign_key, suite=suite)
    finally:
        if suite is not None:
            suite.close()


def _beam_flag(beam_args: list[str], name: str) -> str | None:
    """The value of ``--name`` among the Beam flags (``--name=value`` or ``--name value``); '' for a bare
    switch; None when absent."""
    for i, arg in enumerate(beam_args):
        if arg == f"--{name}":
            nxt = beam_args[i + 1] if i + 1 < len(beam_args) else ""
            return "" if nxt.startswith("--") else nxt
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def _early_suite(cfg, beam_args: list[str]):
    """Start importing Great Expectations in a second process before Beam is even imported
    (:func:`refinery.runtime.suite_process`): on a small run the suite's import, not the pipeline, was
    what the end of the run waited for. None where it would not help (another runner, a dry run)."""
    from refinery.runtime import single_process, suite_process

    if _beam_flag(beam_args, "dry_run") is not None:
        return None
    runner = _beam_flag(beam_args, "runner") or "DirectRunner"
    mode = _beam_flag(beam_args, "direct_running_mode") or "in_memory"
    return suite_process(cfg.validation.enabled, single_process(runner, {"direct_running_mode": mode}))


def _load_manifest(out_dir: str) -> dict:
    from refinery.pipelines.run import _read_json

    path = os.path.join(out_dir, "reports", "manifest.json")
    try:
        return _read_json(path)
    except (OSError, FileNotFoundError) as exc:
        raise SystemExit(f"refinery: {path}: no manifest ({exc}); is {out_dir} a refinery output folder?") from None


def cmd_inspect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refinery inspect",
                                     description="Readable summary of a finished run: records per stage and "
                                                 "reason, per input file, sizes, languages, licences.")
    parser.add_argument("dir", metavar="DIR", help="output folder of a run")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    from refinery.pipelines.inspect import inspect_run
    from refinery.validators.integrity import incomplete_message

    message = incomplete_message(_load_manifest(args.dir))  # not a traceback when DIR is not a run's output
    if message:  # a killed (or still running) run: its partial files are not summarised as a run
        print(message)
        return 1
    print(inspect_run(args.dir, as_json=args.json))
    return 0


def cmd_explain(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refinery explain",
                                     description="Where one record came from and every decision taken about it.")
    parser.add_argument("dir", metavar="DIR", help="output folder of a run")
    parser.add_argument("doc_id", metavar="DOC_ID", help="doc_id (or original_id) of the record")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    args = parser.parse_args(argv)
    from refinery.pipelines.inspect import explain_record

    _load_manifest(args.dir)
    text, found = explain_record(args.dir, args.doc_id, as_json=args.json)
    print(text)
    return 0 if found else 1


def cmd_config(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refinery config",
                                     description="Show or check the run configuration.")
    parser.add_argument("--defaults", action="store_true", help="print the full default config, every key documented")
    parser.add_argument("--check", metavar="CONFIG.yaml", help="validate a config file and print it resolved")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    args = parser.parse_args(argv)
    from refinery.pipelines.config import ConfigError, defaults_yaml, load_config

    if args.defaults:
        print(defaults_yaml())
        return 0
    try:
        cfg = load_config(args.check, args.overrides)
    except ConfigError as exc:
        print(f"refinery: config error:\n{exc}", file=sys.stderr)
        return 2
    print(json.dumps(cfg.model_dump(mode="json"), indent=2, ensure_ascii=False))
    print(f"config_sha256: {cfg.sha256()}")
    return 0


def _signature_notes(out_dir: str, key) -> list[tuple[str, bool]]:
    """(message, is a finding) about a signature that --verify-key did not check."""
    if key is not None:
        return []
    from apache_beam.io.filesystems import FileSystems

    from refinery.validators.integrity import MANIFEST, SIGNATURE

    try:
        with FileSystems.open(FileSystems.join(out_dir, *MANIFEST.split("/"))) as f:
            signed = json.loads(f.read()).get("signature")
    except Exception:  # noqa: BLE001 - the integrity check reports an unreadable manifest
        return []
    has_sig = FileSystems.exists(FileSystems.join(out_dir, *SIGNATURE.split("/")))
    if signed and not has_sig:
        return [(f"{SIGNATURE}: missing, though the manifest says it was signed (key id {signed.get('key_id')})",
                 True)]
    if has_sig:
        key_id = (signed or {}).get("key_id")
        return [(f"signature: {SIGNATURE} present (key id {key_id}), not verified: pass --verify-key KEYFILE", False)]
    return []


def cmd_validate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refinery validate",
        description="Re-check a finished output folder (local or gs://): the run completed (_SUCCESS, no "
                    "temporary files), every file under it is listed in the manifest with its sha256 and row count, "
                    "each Parquet file is readable and of this run, totals, reconciliation per input file and stage "
                    "counters recomputed from the files, unique doc_ids, the config re-hashed, the signature "
                    "(--verify-key), and the expectation suite re-evaluated on the files. "
                    "Exit 0 pass, 1 findings, 2 bad usage (no such folder, unusable key file).")
    parser.add_argument("dir", metavar="DIR", help="output folder of a run")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--verify-key", metavar="KEYFILE", dest="verify_key",
                        help="the manifest must be signed and verify with this key: an Ed25519 public (or private) "
                             "key, PEM or OpenSSH, or the HMAC secret the run was signed with")
    args = parser.parse_args(argv)
    from refinery.validators.revalidate import validate_output

    if "://" not in args.dir and not os.path.isdir(args.dir):
        print(f"refinery: validate: {args.dir}: no such folder", file=sys.stderr)
        return 2
    key = None
    if args.verify_key:
        from refinery.validators.signing import KeyFileError, load_key

        try:
            key = load_key(args.verify_key)
        except KeyFileError as exc:
            print(f"refinery: --verify-key {exc}", file=sys.stderr)
            return 2
    problems, result = validate_output(args.dir, verify_key=key)
    notes = _signature_notes(args.dir, key)
    problems += [n for n, is_problem in notes if is_problem]
    failed = bool(problems) or (result is not None and not result["success"])
    if args.json:
        print(json.dumps({"success": not failed, "integrity_problems": problems,
                          "suite": None if result is None else {
                              k: result[k] for k in ("success", "critical_failures", "warnings", "checks")}},
                         indent=2, default=str, ensure_ascii=False))
        return 1 if failed else 0
    for note, is_problem in notes:
        if not is_problem:
            print(f"note {note}")
    for p in problems:
        print(f"FAIL integrity: {p}")
    if result is not None:
        for c in result["checks"]:
            mark = "ok  " if c["success"] else ("FAIL" if c["severity"] == "critical" else "warn")
            print(f"{mark} {c['severity']:<8} {c['id']:<32} observed={c['observed']}  ({c['description']})")
    if failed:
        n = len(problems) + (len(result["critical_failures"]) if result else 0)
        print(f"validation FAILED: {n} problem(s)")
        return 1
    signed = ", the signature" if key is not None else ""
    print(f"validation passed: complete, files, checksums, row counts, totals, reconciliation, counters, "
          f"config hash{signed} and every critical expectation hold")
    return 0


TEMPLATE_EPILOG = """\
The parameters are `input`, `output` and one per config key (`refinery config --defaults`), named
as the key with _ for . (dedup.threshold -> dedup_threshold): the same flags `refinery run` takes.
Build the template with Google's tooling, e.g.
  refinery template --output metadata.json
  gcloud dataflow flex-template build gs://BUCKET/templates/refinery.json \\
      --image-gcr-path REGION-docker.pkg.dev/PROJECT/REPO/refinery:TAG --sdk-language PYTHON \\
      --flex-template-base-image PYTHON311 --metadata-file metadata.json \\
      --py-path . --env FLEX_TEMPLATE_PYTHON_PY_FILE=pipelines/flex_main.py \\
      --env FLEX_TEMPLATE_PYTHON_SETUP_FILE=setup.py
(README "Scaling out": the launcher stays up for the post-run checks.)
"""


def cmd_template(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refinery template",
        description="Write a Dataflow Flex Template metadata.json whose parameters come from the config schema.",
        epilog=TEMPLATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", "-o", metavar="FILE", help="write here (default: standard output)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    args = parser.parse_args(argv)
    from refinery.pipelines.options import flex_metadata

    text = json.dumps(flex_metadata(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if os.path.isdir(args.output):
        print(f"refinery: --output {args.output} is a folder; name the file, e.g. {args.output}/metadata.json",
              file=sys.stderr)
        return 2
    if os.path.exists(args.output) and not args.force:
        print(f"refinery: {args.output} exists; pass --force to replace it", file=sys.stderr)
        return 2
    from refinery.atomic import write_atomic

    write_atomic(args.output, text.encode())
    print(f"wrote {args.output} ({len(flex_metadata()['parameters'])} parameters)", file=sys.stderr)
    return 0


COMMANDS = {
    "run": (cmd_run, "refine crude inputs into refined/rejected/errors Parquet"),
    "inspect": (cmd_inspect, "summarise a finished run"),
    "explain": (cmd_explain, "trace one record: source, lineage, every decision"),
    "validate": (cmd_validate, "re-check a finished output against its manifest"),
    "config": (cmd_config, "print the default config or check a config file"),
    "template": (cmd_template, "write a Dataflow Flex Template metadata.json"),
}
# For labelling teams: sample, diff, export, labels (refinery.pipelines.labelling_cli).
from refinery.pipelines.labelling_cli import COMMANDS as _LABELLING_COMMANDS  # noqa: E402

COMMANDS.update(_LABELLING_COMMANDS)
# Across data owners: sketch, overlap (refinery.pipelines.sketch).
from refinery.pipelines.sketch import COMMANDS as _SKETCH_COMMANDS  # noqa: E402

COMMANDS.update(_SKETCH_COMMANDS)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(textwrap.dedent("""\
            usage: refinery COMMAND [ARGS]

            Refinery turns crude text corpora into training-grade Parquet datasets, with lineage.

            commands:"""))
        for name, (_fn, desc) in COMMANDS.items():
            print(f"  {name:<9} {desc}")
        print("\n`refinery COMMAND --help` explains each. Start with:\n"
              "  refinery run --input 'examples/sample/*' --output out/demo")
        return 0
    if argv[0] in ("--version", "-V"):
        import refinery

        print(f"refinery {refinery.__version__}")
        return 0
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        print(f"refinery: unknown command {argv[0]!r}; one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return cmd[0](argv[1:])


def entry() -> None:
    """Console-script entry point. Once a command has returned, its files are complete and closed: the
    exit handlers run and the streams are flushed, and the process then ends without tearing the
    interpreter down object by object (Beam's, pyarrow's and the models' objects: most of a second
    of a small run). A command that raises ends the usual way, traceback included."""
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
