"""Command lines of the labelling commands: ``sample``, ``diff``, ``export`` and ``labels attach``.

Registered in :mod:`refinery.pipelines.cli`; the work is done in :mod:`~refinery.pipelines.sample`,
:mod:`~refinery.pipelines.diff` and :mod:`~refinery.pipelines.labelling`. Exit status: 0 done; 1 the
work was done but something needs attention (``labels attach --strict`` with labels left unattached);
2 bad usage or input (the message names the flag, file or line).
"""

from __future__ import annotations

import argparse
import json
import sys

SAMPLE_EPILOG = """\
strata (--by, comma-separated): lang; source (the input dataset: source_uri's base name without
extensions and shard number); source_file (source_uri); quality_band (high/medium/low from the stored
quality signals); or a scalar refined column (licence_category, licence_decision, lang_script, ...).

example:
  refinery sample out/r1 --n 2000 --by lang,licence_category,source --seed 7 --output out/r1-sample
"""


def _fail(exc: Exception) -> int:
    print(f"refinery: error: {exc}", file=sys.stderr)
    return 2


def cmd_sample(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refinery sample", epilog=SAMPLE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw a deterministic stratified sample of a release's refined records for annotation: "
                    "Parquet plus a manifest of strata, sizes, seed and the release's run id.")
    parser.add_argument("dir", metavar="OUT", help="output folder of a finished run (the release)")
    parser.add_argument("--n", type=int, required=True, help="records to draw")
    parser.add_argument("--by", default="lang", help="strata columns, comma-separated (default: lang)")
    parser.add_argument("--seed", type=int, default=0, help="selection seed (default 0)")
    parser.add_argument("--output", "-o", required=True, metavar="SAMPLE", help="new folder for the sample")
    parser.add_argument("--allocation", choices=("proportional", "equal"), default="proportional",
                        help="proportional to stratum size (default) or the same number per stratum")
    parser.add_argument("--min-per-stratum", type=int, default=1,
                        help="proportional allocation: at least this many per stratum (default 1), as far "
                             "as --max-share-gap allows")
    parser.add_argument("--max-share-gap", default="1", metavar="PP",
                        help="proportional allocation: the minimum is given to the strata below it, largest first, "
                             "while no stratum's share of the sample is more than PP percentage points from its "
                             "share of the release (default 1); 'none': every stratum gets the minimum")
    parser.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --output")
    parser.add_argument("--json", action="store_true", help="print the sample's manifest as JSON")
    args = parser.parse_args(argv)
    from refinery.pipelines.release import ReleaseError
    from refinery.pipelines.sample import SampleError, SampleRequest, draw_sample, format_summary

    try:
        gap = None if args.max_share_gap.strip().lower() == "none" else float(args.max_share_gap) / 100
    except ValueError:
        return _fail(ValueError(f"--max-share-gap {args.max_share_gap}: a number of percentage points or 'none'"))
    req = SampleRequest(n=args.n, by=tuple(b.strip() for b in args.by.split(",") if b.strip()), seed=args.seed,
                        allocation=args.allocation, min_per_stratum=args.min_per_stratum, max_share_gap=gap)
    try:
        result = draw_sample(args.dir, req, args.output, overwrite=args.overwrite)
    except (SampleError, ReleaseError) as exc:
        return _fail(exc)
    print(json.dumps(result.manifest, indent=2, ensure_ascii=False) if args.json else format_summary(result))
    return 0


def cmd_diff(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refinery diff",
        description="What changed between two releases, by doc_id: added, removed (rejected now with the reason, "
                    "duplicate of which record, error, gone), changed text, unchanged; counts per language and "
                    "reason. With --output: changes.parquet, to_label.parquet (the added and changed records) "
                    "and summary.json.")
    parser.add_argument("old", metavar="OUT_OLD", help="the earlier release (a run's output folder)")
    parser.add_argument("new", metavar="OUT_NEW", help="the later release")
    parser.add_argument("--output", "-o", metavar="DIR", help="new folder for the diff's files")
    parser.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --output")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    from refinery.pipelines.diff import diff_releases, format_summary
    from refinery.pipelines.release import ReleaseError

    try:
        summary = diff_releases(args.old, args.new, args.output, overwrite=args.overwrite)
    except ReleaseError as exc:
        return _fail(exc)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_summary(summary))
    if args.output is None and not args.json:
        print("\n(pass --output DIR for changes.parquet and to_label.parquet)")
    return 0


def cmd_export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refinery export",
        description="Write a sample (or a diff's to_label.parquet, or any refinery Parquet) for a labelling tool: "
                    "Label Studio tasks (data.text, data.doc_id, lineage in meta), JSONL or CSV.")
    parser.add_argument("sample", metavar="SAMPLE", help="sample folder, diff folder, Parquet file or folder")
    parser.add_argument("--format", "-f", choices=("label-studio", "jsonl", "csv"), default="label-studio")
    parser.add_argument("--field", action="append", default=[], metavar="NAME=COLUMN",
                        help="field NAME from COLUMN (repeat; replaces the default fields; doc_id is always "
                             "kept), e.g. --field content=text --field lang")
    parser.add_argument("--output", "-o", metavar="FILE", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    from refinery.pipelines.labelling import LabellingError, export, open_output

    opened = []

    def open_out():
        opened.append(open_output(args.output))
        return opened[0]

    try:
        n = export(args.sample, args.format, open_out, args.field)
    except LabellingError as exc:
        return _fail(exc)
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped reading: not an error of ours
        opened.clear()
        return 0
    finally:
        for out in opened:
            if args.output in (None, "-"):
                out.flush()
                out.detach()
            else:
                out.close()
    if args.output not in (None, "-"):
        print(f"wrote {n:,} records to {args.output} ({args.format})", file=sys.stderr)
    return 0


def cmd_labels(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refinery labels",
                                     description="Labels that came back from a labelling tool.")
    sub = parser.add_subparsers(dest="action", required=True)
    att = sub.add_parser("attach", help="join labels onto a release by doc_id",
                         description="Join labels (a Label Studio JSON export, a JSONL of {doc_id, label}, or an "
                                     "earlier attach's Parquet) onto a release by doc_id; report the labels whose "
                                     "record is rejected, an error, missing, or has a changed text.")
    att.add_argument("release", metavar="OUT", help="output folder of a run")
    att.add_argument("labels", nargs="+", metavar="LABELS", help="labels file(s)")
    att.add_argument("--output", "-o", required=True, metavar="FILE.parquet", help="labelled records (Parquet)")
    att.add_argument("--moves", metavar="DIFF", help="a `refinery diff --output` folder: a label whose doc_id is "
                                                     "gone follows its text to the record's new doc_id")
    att.add_argument("--report", metavar="FILE.json", help="also write the report as JSON")
    att.add_argument("--strict", action="store_true", help="exit 1 when any label could not be attached")
    att.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    from refinery.pipelines.labelling import LabellingError, attach_labels, format_report
    from refinery.pipelines.release import ReleaseError

    try:
        report = attach_labels(args.release, args.labels, args.output, args.moves)
    except (LabellingError, ReleaseError) as exc:
        return _fail(exc)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_report(report))
    return 1 if args.strict and report["not_attached"] else 0


COMMANDS = {
    "sample": (cmd_sample, "draw a stratified annotation sample of a release"),
    "diff": (cmd_diff, "what changed between two releases, record by record"),
    "export": (cmd_export, "write a sample for a labelling tool (Label Studio, JSONL, CSV)"),
    "labels": (cmd_labels, "attach labels from a labelling tool to a release"),
}
