"""Held-out licence and copyright evaluation (never used for tuning).

    python -m benchmarks.licence_heldout [--json out.json] [--show N]

Sets (see each file's ``about``):
- benchmarks/data/heldout_debian.json: Debian DEP-5 ``License:`` bodies labelled with the maintainer's
  short name (mapped to SPDX), ``Copyright:`` lines with their holder, and the short names themselves
  as free-text metadata;
- benchmarks/data/heldout_headers.json: 60 source-file headers of installed packages, labelled by
  hand (SPDX ids and copyright statements) before any measurement;
- benchmarks/data/heldout_npm.json: licence files and README licence sections of npm packages,
  labelled with the package.json ``license`` field (built by benchmarks/heldout_npm.py before the
  detector changes it measures; see its ``about``).

``--dev`` measures the development sets instead (dev_debian.json, dev_npm.json): the only ones the
detectors may be tuned on.

Measures, through :func:`refinery.transforms.licence.analyse` with the default ``licence`` config
(what ``refinery run`` does):
- licence: mean per-document F1 over SPDX ids (documents with at least one expected id; a document
  with none expected counts a false positive when something is found); ``LicenseRef-public-domain``
  and ScanCode's ``LicenseRef-scancode-public-domain`` count as the same id;
- copyright statements: micro precision / recall / F1 after typographic normalisation ((c) = © =
  (C), markup tags dropped, whitespace collapsed, case folded);
- holders: share of Debian ``Copyright:`` lines whose holder is extracted exactly (case folded);
- metadata names: share of Debian short names normalised to the expected SPDX ids.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from refinery.pipelines.config import LicenceConfig
from refinery.transforms.licence import LicenceIndex, analyse, normalise_licence

DATA = Path(__file__).resolve().parent / "data"
_PD = {"LicenseRef-scancode-public-domain": "LicenseRef-public-domain"}


def ids_of(expr: str | None) -> set[str]:
    if not expr:
        return set()
    out = set()
    for tok in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", expr):
        tok = tok.strip()
        if tok and tok != "LicenseRef-unknown":
            out.add(_PD.get(tok, tok))
    return out


def doc_f1(got: set[str], want: set[str]) -> float:
    if not want:
        return 1.0 if not got else 0.0
    tp = len(got & want)
    if not tp:
        return 0.0
    p, r = tp / len(got), tp / len(want)
    return 2 * p * r / (p + r)


def norm_statement(s: str) -> str:
    s = re.sub(r"<[^>@\s]*>", " ", s) if "@" not in s else s  # markup tags, not e-mail addresses
    s = re.sub(r"\(c\)|©|\(C\)", "©", s)
    s = re.sub(r"\s+", " ", s).strip().casefold()
    return s


def licence_eval(cases, cfg, index, show, label):
    scores, misses = [], []
    for text, want in cases:
        f = analyse(text, None, cfg, index)
        got = ids_of(f.spdx) if f.source == "text" else set()
        s = doc_f1(got, set(want))
        if want or got:
            scores.append(s)
        if s < 1:
            misses.append((text, sorted(got), sorted(want)))
    mean = sum(scores) / max(1, len(scores))
    print(f"{label}: licence mean per-document F1 {mean:.3f} over {len(scores)} documents "
          f"({sum(1 for _t, g, w in misses if w and not g)} got none, "
          f"{sum(1 for _t, g, w in misses if g)} wrong/extra)")
    for text, got, want in misses[:show]:
        print(f"    got {got} want {want}: {text[:150]!r}")
    return mean, len(scores)


def copyright_eval(cases: list[dict], cfg, index, show: int) -> dict:
    """Precision, recall and F1 of the copyright statements of the hand-labelled source headers."""
    tp = fp = fn = 0
    misses = []
    for c in cases:
        f = analyse(c["text"], None, cfg, index)
        got = {norm_statement(s) for s in f.statements}
        want = {norm_statement(s) for s in c["want_statements"]}
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        if got != want:
            misses.append((sorted(got - want), sorted(want - got)))
    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    res = {"copyright_p": p, "copyright_r": r, "copyright_f1": 2 * p * r / max(1e-9, p + r)}
    print(f"copyright statements (source headers): P {p:.3f} R {r:.3f} F1 {res['copyright_f1']:.3f}")
    for extra, missing in misses[:show]:
        print(f"    extra {extra} missing {missing}")
    return res


def holder_eval(cases: list[dict], cfg, index, show: int) -> float:
    """Share of the Debian ``Copyright:`` lines whose holder is found exactly (case aside)."""
    ok = 0
    hmiss = []
    for c in cases:
        f = analyse(c["text"], None, cfg, index)
        if [h.casefold() for h in f.holders] == [c["want_holder"].casefold()]:
            ok += 1
        else:
            hmiss.append((c["text"], f.holders, c["want_holder"]))
    accuracy = ok / max(1, len(cases))
    print(f"holders (Debian Copyright: lines, {len(cases)}): exact {accuracy:.3f}")
    for t, g, w in hmiss[:show]:
        print(f"    {t!r}: got {g} want {w!r}")
    return accuracy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    ap.add_argument("--show", type=int, default=0, help="print this many misses per measure (do not tune on them)")
    ap.add_argument("--dev", action="store_true", help="measure the development set (dev_debian.json) instead: "
                    "the one the detectors may be tuned on")
    args = ap.parse_args()
    cfg = LicenceConfig()
    index = LicenceIndex.load()
    deb = json.loads((DATA / ("dev_debian.json" if args.dev else "heldout_debian.json")).read_text("utf-8"))
    hdr = json.loads((DATA / "heldout_headers.json").read_text("utf-8"))
    res = {}
    res["debian_licence_f1"], n1 = licence_eval([(c["text"], c["want"]) for c in deb["licences"]], cfg, index,
                                                args.show, "Debian licence bodies")
    if args.dev:  # the hand-labelled headers are held out only: never shown
        hdr = {"cases": []}
    res["headers_licence_f1"], n2 = licence_eval([(c["text"], c["want_licences"]) for c in hdr["cases"]], cfg, index,
                                                 args.show, "source headers")
    res["licence_f1"] = (res["debian_licence_f1"] * n1 + res["headers_licence_f1"] * n2) / (n1 + n2)
    print(f"licence mean per-document F1, Debian + headers ({n1 + n2} documents): {res['licence_f1']:.3f}")
    npm = json.loads((DATA / ("dev_npm.json" if args.dev else "heldout_npm.json")).read_text("utf-8"))["cases"]
    for kind in ("file", "readme"):
        res[f"npm_{kind}_licence_f1"], _n = licence_eval([(c["text"], c["want"]) for c in npm if c["kind"] == kind],
                                                          cfg, index, args.show, f"npm {kind}s")
    res["npm_licence_f1"], n3 = licence_eval([(c["text"], c["want"]) for c in npm], cfg, index, 0, "npm, all")
    res["all_licence_f1"] = (res["licence_f1"] * (n1 + n2) + res["npm_licence_f1"] * n3) / (n1 + n2 + n3)
    print(f"licence mean per-document F1, all three sets ({n1 + n2 + n3} documents): {res['all_licence_f1']:.3f}")
    res.update(copyright_eval(hdr["cases"], cfg, index, args.show))
    res["holder_accuracy"] = holder_eval(deb["holders"], cfg, index, args.show)
    names = {}
    for c in deb.get("names", []):
        names[c["name"]] = c["want"]
    ok = 0
    nmiss = []
    for name, want in names.items():
        got = ids_of(normalise_licence(name))
        if got == set(want):
            ok += 1
        else:
            nmiss.append((name, sorted(got), want))
    res["metadata_accuracy"] = ok / max(1, len(names))
    print(f"metadata names -> SPDX (Debian short names, {len(names)}): {res['metadata_accuracy']:.3f}")
    for n, g, w in nmiss[:args.show]:
        print(f"    {n!r}: got {g} want {w}")
    fields = {c["license_field"]: c["want"] for c in npm}
    ok = sum(ids_of(normalise_licence(f)) == set(w) for f, w in fields.items())
    res["npm_metadata_accuracy"] = ok / max(1, len(fields))
    print(f"metadata names -> SPDX (npm license fields, {len(fields)}): {res['npm_metadata_accuracy']:.3f}")
    for f, w in list(fields.items())[:args.show]:
        if ids_of(normalise_licence(f)) != set(w):
            print(f"    {f!r}: got {sorted(ids_of(normalise_licence(f)))} want {w}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
