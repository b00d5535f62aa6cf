"""Nothing leaked (issue 21, findings 9 and 10), seen through the CLI as the audit saw it: PII planted
where the quality stage never looked, and credentials planted in Beam flag values; then EVERY file the
run wrote (Parquet read back row by row, everything else as bytes) and the CLI's own output are
searched for each planted value."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from refinery.arrow_io import read_output

PROSE = ("The river rises in the hills to the north of the town and flows slowly through the valley. "
         "In spring the water is high and the old mill turns again, as it did in the eighteenth century. "
         "Farmers bring their grain to the market on the square every Saturday morning. ")
FRENCH = ("La rivière prend sa source dans les collines au nord de la ville et traverse lentement la vallée. "
          "Au printemps, les eaux sont hautes et le vieux moulin tourne de nouveau, comme au dix-huitième siècle. ")

# Planted PII: each must be found nowhere in the output.
PII = {
    "denied_email": "denied.person@example.com", "denied_phone": "206-543-9196",
    "optout_ssn": "123-45-6789", "optout_phone": "415.555.0132",
    "french_phone": "1-800-555-0199", "french_email": "marie.curie@example.fr",
    "meta_email": "meta.person@example.org", "meta_phone": "030 12345678",
    "id_email": "id.person@example.net", "refined_phone": "010-12345678",
    "error_email": "broken.json@example.com", "latin1_email": "latin.one@example.com",
    "undecodable_ssn": "234-56-7890",
}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "refinery.pipelines.cli", *args], capture_output=True, text=True,
                          timeout=300)


def every_output_text(out: Path) -> dict[str, str]:
    """Every file under ``out``, as text a planted value can be searched in: Parquet files read back
    (their pages are compressed; their footer too), everything else decoded byte for byte."""
    texts = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data.decode("latin-1")
        if data[:4] == b"PAR1":
            table = pq.read_table(path)
            text += json.dumps(table.to_pylist(), default=lambda v: v.decode("latin-1") if isinstance(v, bytes)
                               else str(v), ensure_ascii=False)
            footer = pq.read_metadata(path).metadata or {}
            text += json.dumps({k.decode(): v.decode("latin-1") for k, v in footer.items()}, ensure_ascii=False)
        texts[str(path.relative_to(out))] = text
    return texts


def _leaks(texts: dict[str, str], planted: dict[str, str]) -> list[str]:
    return [f"{name} ({value}) in {path}" for name, value in planted.items()
            for path, text in texts.items() if value in text]


def _pii_input(path: Path) -> None:
    lines = [
        {"id": "denied", "text": PROSE + f"Write to {PII['denied_email']} or call {PII['denied_phone']}.",
         "license": "CC-BY-NC-4.0"},
        {"id": "optout", "text": PROSE + f"Text and data mining reserved. SSN {PII['optout_ssn']}, "
                                         f"phone {PII['optout_phone']}."},
        {"id": "french", "text": FRENCH + f"Appelez le {PII['french_phone']} ou écrivez à {PII['french_email']}."},
        {"id": "meta", "text": PROSE, "author": {"contact": f"{PII['meta_email']}, {PII['meta_phone']}"}},
        {"id": f"user:{PII['id_email']}", "text": PROSE + f"Beijing office {PII['refined_phone']}."},
        {"id": "plain", "text": PROSE + " Nothing personal here."},
    ]
    (path / "crude.jsonl").write_bytes(b"".join(json.dumps(d, ensure_ascii=False).encode() + b"\n" for d in lines))
    # Lines that become errors (in a file of their own: its invalid UTF-8 must not change how the
    # valid file above is decoded), among good ones.
    good = b"".join(json.dumps({"id": f"good{i}", "text": PROSE}).encode() + b"\n" for i in range(3))
    (path / "broken.jsonl").write_bytes(
        good
        + b'{"id": "broken", "text": "unterminated ' + PII["error_email"].encode() + b"\n"
        + b'{"id": "latin1", "text": "caf\xe9 ' + PII["latin1_email"].encode() + b'"}\n'
        + b"\x81 \x8d binary " + PII["undecodable_ssn"].encode() + b" \xff\n")


def test_pii_is_redacted_at_ingest_everywhere_the_run_writes(tmp_path):
    src = tmp_path / "crude"
    src.mkdir()
    _pii_input(src)
    out = tmp_path / "out"
    r = _cli("run", "--input", str(src / "*.jsonl"), "--output", str(out), "--set", "language.allowed=[en]",
             "--set", "dedup.enabled=false")
    assert r.returncode == 0, r.stderr
    texts = every_output_text(out)
    assert "reports/_run/aggregates.json" in texts and any(p.startswith("errors/") for p in texts)
    assert _leaks(texts, PII) == []
    assert _leaks({"stdout": r.stdout, "stderr": r.stderr}, PII) == []

    rows = {r["original_id"]: r for kind in ("refined", "rejected") for r in read_output(str(out / kind)).to_pylist()}
    assert rows["denied"]["reject_reason"] == "licence_denied"
    assert rows["optout"]["reject_reason"] == "opted_out"
    assert rows["french"]["reject_reason"] == "language_not_allowed"
    # counted before redaction, redacted in text, meta and ids, whatever stage rejected the record
    assert rows["denied"]["pii_counts"] == {"email": 1, "phone": 1, "ip_address": 0, "id_number": 0, "payment_card": 0}
    assert rows["optout"]["pii_counts"]["id_number"] == 1 and "SSN <ID_NUMBER>, phone <PHONE>" in rows["optout"]["text"]
    assert "<PHONE> ou écrivez à <EMAIL>" in rows["french"]["text"]
    assert json.loads(rows["meta"]["meta"]) == {"author": {"contact": "<EMAIL>, <PHONE>"}}
    assert "user:<EMAIL>" in rows and "Beijing office <PHONE>." in rows["user:<EMAIL>"]["text"]
    errors = sorted(read_output(str(out / "errors")).to_pylist(), key=lambda e: e["source_line"])
    assert [e["source_line"] for e in errors] == [3, 4, 5]
    assert errors[0]["raw"] == b'{"id": "broken", "text": "unterminated <EMAIL>'
    assert errors[1]["raw"] == b'{"id": "latin1", "text": "caf\xe9 <EMAIL>"}'
    assert errors[2]["raw"] is None and "ingest.keep_undecodable_raw" in errors[2]["error"]
    manifest = json.loads((out / "reports" / "manifest.json").read_text())
    assert manifest["reconciliation"]["ok"] and manifest["counters"]["ingest"]["pii:raw_dropped"] == 1


# One credential per form the audit planted in a flag value (finding 10).
CREDENTIALS = {
    "signed_url_signature": "5ecre7519a7e0bd1", "signed_url_credential": "CREDSECRET4471",
    "staging_access_token": "STAGINGSECRET42", "label_token": "LABELSECRET42",
    "experiment_token": "ghp_EXPSECRETabcdefghijklmnopqrstuvwx012", "experiment_key": "EXPKEYSECRET7",
    "sdk_password": "SDKPASSWORD77", "input_token": "INPUTTOKEN88",
}


def test_credentials_in_flag_values_are_written_nowhere(tmp_path, monkeypatch, capsys, caplog):
    from apache_beam.io.filesystem import MatchResult
    from apache_beam.io.gcp.gcsfilesystem import GCSFileSystem

    from refinery.pipelines.cli import main

    # No GCS from here: the gs:// pattern matches nothing, as a pattern with a token in it would.
    monkeypatch.setattr(GCSFileSystem, "match",
                        lambda self, patterns, limits=None: [MatchResult(p, []) for p in patterns])
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": PROSE}) + "\n" + json.dumps({"id": "b", "text": FRENCH}) + "\n")
    out = tmp_path / "out"
    c = CREDENTIALS
    code = main([
        "run", "--input", str(src), "--input", f"gs://leaks-bucket/crude/part.jsonl?token={c['input_token']}",
        "--output", str(out), "--set", "dedup.enabled=false",
        "--temp_location=gs://leaks-bucket/tmp?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        f"&X-Goog-Credential={c['signed_url_credential']}%2F20261201%2Fauto&X-Goog-Signature={c['signed_url_signature']}",
        f"--staging_location=gs://leaks-bucket/staging?access_token={c['staging_access_token']}",
        "--labels=team=data", f"--labels=deploy_token={c['label_token']}",
        "--experiments=use_runner_v2", f"--experiments={c['experiment_token']}",
        f"--experiments=api_key={c['experiment_key']}",
        f"--sdk_location=https://builder:{c['sdk_password']}@pypi.example.com/beam.tar.gz",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    texts = every_output_text(out)
    assert {"reports/manifest.json", "reports/openlineage.jsonl", "reports/validation.json"} <= set(texts)
    assert _leaks(texts, CREDENTIALS) == []
    assert _leaks({"stdout": captured.out, "stderr": captured.err, "log": caplog.text}, CREDENTIALS) == []
    # what was there is still said, only the values are gone
    manifest = json.loads((out / "reports" / "manifest.json").read_text())
    opts = manifest["pipeline_options"]
    assert opts["temp_location"] == ("gs://leaks-bucket/tmp?X-Goog-Algorithm=<redacted>&X-Goog-Credential=<redacted>"
                                     "&X-Goog-Signature=<redacted>")
    assert opts["staging_location"] == "gs://leaks-bucket/staging?access_token=<redacted>"
    assert opts["labels"] == ["team=data", "deploy_token=<redacted>"]
    assert opts["experiments"] == ["use_runner_v2", "<redacted>", "api_key=<redacted>"]
    assert opts["sdk_location"] == "https://<redacted>@pypi.example.com/beam.tar.gz"
    assert manifest["input_patterns"][1] == "gs://leaks-bucket/crude/part.jsonl?token=<redacted>"
