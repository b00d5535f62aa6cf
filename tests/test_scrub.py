"""The one scrubber of recorded option values, patterns and messages (pure)."""

import logging

import pytest

from refinery.pipelines.run import redact_options
from refinery.pipelines.scrub import REDACTED, install_log_scrubbing, scrub_options, scrub_secrets, scrub_string


@pytest.mark.parametrize("given, recorded", [
    ("https://user:hunter2@example.com/simple", "https://<redacted>@example.com/simple"),
    ("https://AKIA-free-token@github.com/o/r.git", "https://<redacted>@github.com/o/r.git"),
    ("gs://b/tmp?X-Goog-Signature=abc123&X-Goog-Expires=900", "gs://b/tmp?X-Goog-Signature=<redacted>&X-Goog-Expires=<redacted>"),
    ("https://h/p?x=1#access_token=abc", "https://h/p?x=<redacted>#<redacted>"),
    ("deploy_token=abc123", "deploy_token=<redacted>"),
    ("password: hunter2", "password: <redacted>"),
    ("--experiments=api_key=s3cr3t,other=1", "--experiments=api_key=<redacted>,other=1"),
    ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer <redacted>"),
    ("header Bearer abcdefghijklmnop", "header Bearer <redacted>"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", REDACTED),
    ("AKIAABCDEFGHIJKLMNOP", REDACTED),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV", "token <redacted>"),
    ("x 3fGh7Kq9Lm2Np4Rs6Tv8Wx0Yz1Ab3Cd5Ef", "x <redacted>"),
])
def test_secrets_inside_values_are_redacted(given, recorded):
    assert scrub_string(given) == recorded


@pytest.mark.parametrize("kept", [
    "/tmp/pytest-of-root/pytest-3/test_x0/out/reports/manifest.json",
    "gs://bucket/crude/*.jsonl.gz",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a sha256: lower-case hex
    "KeyError: no text field 'text' (ingest.text_field)",
    "--direct_running_mode=multi_processing",
    "run 20261201T221100Z-abc123  status=succeeded  runner=DirectRunner",
    "team=data",
])
def test_ordinary_values_are_kept(kept):
    assert scrub_string(kept) == kept


def test_options_secret_keys_whole_other_values_scrubbed_keys_and_lists_too():
    opts = {"service_account_email": "sa@p.iam.gserviceaccount.com", "dataflow_kms_key": "projects/p/k",
            "labels": ["a=1", "token=zzz"], "temp_location": "gs://b/t?sig=1", "num_workers": 3,
            "dry_run": False}
    assert scrub_options(opts) == redact_options(opts) == {
        "service_account_email": REDACTED, "dataflow_kms_key": REDACTED, "labels": ["a=1", "token=<redacted>"],
        "temp_location": "gs://b/t?sig=<redacted>", "num_workers": 3, "dry_run": False}
    assert scrub_secrets({"gs://b/x?token=1": ["u:p"]}) == {"gs://b/x?token=<redacted>": ["u:p"]}


def test_log_records_are_scrubbed_before_any_handler(caplog):
    install_log_scrubbing()
    log = logging.getLogger("apache_beam.io.test")
    with caplog.at_level(logging.WARNING):
        log.warning("Match failed for %s", "gs://b/x.jsonl?token=LOGSECRET")
        try:
            raise ValueError("gs://b/y?token=TRACESECRET")
        except ValueError:
            log.exception("failed")
    assert "LOGSECRET" not in caplog.text and "TRACESECRET" not in caplog.text
    assert "gs://b/x.jsonl?token=<redacted>" in caplog.text and "gs://b/y?token=<redacted>" in caplog.text
