"""``refinery`` command line: run, inspect, explain, validate, config."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

RUN_EPILOG = """\
examples:
  refinery run --input 'examples/sample/*' --output out/demo
  refinery run my.yaml --input 'data/*.jsonl.gz' --output out/r1 --set dedup.threshold=0.85
  refinery run --input 'crude/*.jsonl' --output out/r2 --runner FlinkRunner --parallelism 2
  refinery run --input 'gs://bucket/crude/*.jsonl.gz' --output gs://bucket/refined \\
      --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\
      --setup_file ./setup.py

Any flag refinery does not know is passed to Beam's PipelineOptions (--runner, --parallelism,
--direct_num_workers, Dataflow flags, ...); write Beam flags as --flag=value when in doubt. CONFIG is a
YAML file (see `refinery config --defaults`); --set overrides one key (YAML value) and may repeat.
--runner FlinkRunner / SparkRunner: refinery fetches Beam's job server with Maven (needs Java and Maven)
and runs the Python stages in --parallelism worker processes (README "Scaling out").

exit status: 0 run succeeded; 1 the run finished but an invariant failed (reconciliation,
critical expectation) — the message names the file; 2 bad usage, config or input.
"""


def _split_run_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="refinery run",
        usage="refinery run [CONFIG.yaml] --input PATTERN [--input PATTERN ...] --output DIR "
              "[--set KEY=VALUE ...] [--overwrite] [--quiet] [BEAM FLAGS ...]",
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
    args.config = config
    return args, beam_args


def cmd_run(argv: list[str]) -> int:
    from refinery.pipelines.config import ConfigError, load_config

    args, beam_args = _split_run_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"refinery: config error:\n{exc}", file=sys.stderr)
        return 2
    from refinery.pipelines.run import main_run

    return main_run(args.input, args.output, cfg, beam_args, args.overwrite, args.quiet, args.config)


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

    _load_manifest(args.dir)  # a clear message, not a traceback, when DIR is not a run's output
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


def cmd_validate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refinery validate",
        description="Re-check a finished output folder (local or gs://): every file's sha256 and row count against "
                    "the manifest, added or missing files, reconciliation per input file, unique doc_ids, and the "
                    "expectation suite re-evaluated on the files. Exit 0 pass, 1 fail.")
    parser.add_argument("dir", metavar="DIR", help="output folder of a run")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    from refinery.validators.revalidate import validate_output

    problems, result = validate_output(args.dir)
    failed = bool(problems) or (result is not None and not result["success"])
    if args.json:
        print(json.dumps({"success": not failed, "integrity_problems": problems,
                          "suite": None if result is None else {k: result[k] for k in
                                                                ("success", "critical_failures", "warnings", "checks")}},
                         indent=2, default=str, ensure_ascii=False))
        return 1 if failed else 0
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
    print("validation passed: files, checksums, row counts, reconciliation and every critical expectation hold")
    return 0


COMMANDS = {
    "run": (cmd_run, "refine crude inputs into refined/rejected/errors Parquet"),
    "inspect": (cmd_inspect, "summarise a finished run"),
    "explain": (cmd_explain, "trace one record: source, lineage, every decision"),
    "validate": (cmd_validate, "re-check a finished output against its manifest"),
    "config": (cmd_config, "print the default config or check a config file"),
}


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
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
