"""Output integrity through the CLI, as an auditor meets it (issue 21, findings 12 and 13): `refinery
validate` on tampered, truncated, unsigned, signed and killed outputs; atomic writes and `_SUCCESS`."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import SAMPLE

from refinery.pipelines.cli import main

MANIFEST = "reports/manifest.json"


def _cli(capsys, *args) -> tuple[int, str]:
    """`refinery ARGS` in this process: (exit status, stdout + stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An Ed25519 key pair (PEM, as openssl writes it), an OpenSSH pair, and an HMAC secret."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = tmp_path_factory.mktemp("keys")
    private = Ed25519PrivateKey.generate()
    (d / "run.key").write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    (d / "run.pub").write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    other = Ed25519PrivateKey.generate()
    (d / "other.key").write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.OpenSSH,
                                                      serialization.NoEncryption()))
    (d / "other.pub").write_bytes(other.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                  serialization.PublicFormat.OpenSSH))
    (d / "run.hmac").write_bytes(bytes(range(40)))
    (d / "short.hmac").write_bytes(b"too short")
    return d


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory, keys):
    """A small run through `refinery run --sign-key` (Ed25519): records in refined, rejected and errors."""
    out = tmp_path_factory.mktemp("signed") / "out"
    code = main(["run", "--input", str(SAMPLE / "malformed.jsonl"), "--input", str(SAMPLE / "udhr.jsonl"),
                 "--output", str(out), "--quiet", "--sign-key", str(keys / "run.key")])
    assert code == 0
    return out


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(out, change):
    path = out / MANIFEST
    m = json.loads(path.read_text())
    change(m)
    path.write_text(json.dumps(m, indent=2))


def test_a_clean_signed_run_validates_and_verifies(capsys, signed_run, keys):
    assert (signed_run / "_SUCCESS").is_file() and (signed_run / "_SUCCESS").stat().st_size == 0
    assert (signed_run / "reports/manifest.json.sig").is_file()
    code, out = _cli(capsys, "validate", signed_run)
    assert code == 0, out
    assert "not verified: pass --verify-key" in out  # signed, and says it was not checked
    for key in ("run.pub", "run.key"):  # the public key verifies; so does the private one
        code, out = _cli(capsys, "validate", signed_run, "--verify-key", keys / key)
        assert code == 0, out
        assert "the signature" in out


def test_a_file_without_the_parquet_suffix_is_found(capsys, signed_run, tmp_path):
    out = _copy(signed_run, tmp_path)
    part = sorted((out / "refined").rglob("*.parquet"))[0]
    shutil.copy(part, part.parent / "extra")  # pyarrow reads it as part of the dataset
    code, text = _cli(capsys, "validate", out)
    assert code == 1
    assert f"refined/{part.parent.name}/extra: file not in the manifest" in text
    (out / "reports" / "notes.txt").write_text("x")  # any file, anywhere
    assert "reports/notes.txt: file not in the manifest" in _cli(capsys, "validate", out)[1]


@pytest.mark.parametrize("what, change, finding", [
    ("totals", lambda m: m["totals"].update(refined=m["totals"]["refined"] + 1), "totals.refined: the manifest says"),
    ("records", lambda m: m["totals"].update(records=m["totals"]["records"] - 1), "totals.records: the manifest says"),
    ("reconciliation", lambda m: m["reconciliation"]["files"][0].update(
        refined=m["reconciliation"]["files"][0]["refined"] + 1), "the manifest says refined"),
    ("reconciliation ok", lambda m: m["reconciliation"].update(ok=False), "reconciliation.ok: the manifest says False"),
    ("counters dropped", lambda m: m["counters"]["quality"].update(
        {"dropped:gopher_short_doc": m["counters"]["quality"]["dropped:gopher_short_doc"] + 1}),
     "counters.quality.dropped:gopher_short_doc: the manifest says"),
    ("counters kept", lambda m: m["counters"]["dedup"].update(kept=m["counters"]["dedup"]["kept"] - 1),
     "counters.dedup"),
    ("counters error", lambda m: m["counters"]["ingest"].pop("error:KeyError"), "counters.ingest.error:KeyError"),
    ("config, stale hash", lambda m: m["config"]["dedup"].update(threshold=0.5), "config: re-hashes to"),
    ("config hash", lambda m: m.update(config_sha256="0" * 64), "footer refinery.config_sha256"),
])
def test_an_edited_manifest_is_found(capsys, signed_run, tmp_path, keys, what, change, finding):
    out = _copy(signed_run, tmp_path)
    _edit_manifest(out, change)
    code, text = _cli(capsys, "validate", out)
    assert code == 1, what
    assert finding in text, text
    code, text = _cli(capsys, "validate", out, "--verify-key", keys / "run.pub")
    assert code == 1 and "the manifest changed after it was signed" in text


@pytest.mark.parametrize("change", [
    lambda m: m.update(inputs=["not an entry"], totals=[], counters={"ingest": 5}),
    lambda m: m.update(outputs=7, reconciliation="ok", report_files=[1, 2]),
    lambda m: m.update(config={"dedup": {"threshold": "high"}}),
])
def test_a_manifest_of_the_wrong_shape_is_a_finding_not_a_traceback(capsys, signed_run, tmp_path, change):
    out = _copy(signed_run, tmp_path)
    _edit_manifest(out, change)
    code, text = _cli(capsys, "validate", out)
    assert code == 1 and "validation FAILED" in text and "Traceback" not in text


def test_a_truncated_parquet_file_is_a_finding_not_a_traceback(capsys, signed_run, tmp_path):
    out = _copy(signed_run, tmp_path)
    part = sorted((out / "refined").rglob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    code, text = _cli(capsys, "validate", out)
    assert code == 1
    assert "Traceback" not in text
    assert "not readable as Parquet (truncated or corrupt)" in text and part.name in text
    assert "validation FAILED" in text


def test_signature_tampering_and_wrong_keys(capsys, signed_run, tmp_path, keys):
    out = _copy(signed_run, tmp_path)
    code, text = _cli(capsys, "validate", out, "--verify-key", keys / "other.pub")
    assert code == 1 and "signed with another key" in text
    code, text = _cli(capsys, "validate", out, "--verify-key", keys / "run.hmac")
    assert code == 1 and "signed with ed25519, but the verify key is hmac-sha256" in text
    # a manifest re-signed with a forged sha256 in the signature file still fails
    sig_path = out / "reports/manifest.json.sig"
    sig = json.loads(sig_path.read_text())
    _edit_manifest(out, lambda m: m.update(runner="SomethingElse"))
    import hashlib

    sig["manifest_sha256"] = hashlib.sha256((out / MANIFEST).read_bytes()).hexdigest()
    sig_path.write_text(json.dumps(sig))
    code, text = _cli(capsys, "validate", out, "--verify-key", keys / "run.pub")
    assert code == 1 and "the signature does not verify" in text
    sig_path.unlink()
    code, text = _cli(capsys, "validate", out, "--verify-key", keys / "run.pub")
    assert code == 1 and "the manifest is not signed" in text
    code, text = _cli(capsys, "validate", out)  # the manifest still says it was signed
    assert code == 1 and "missing, though the manifest says it was signed" in text


def test_key_file_errors_are_usage_errors(capsys, tmp_path, keys):
    out = tmp_path / "o"
    code, text = _cli(capsys, "run", "--input", SAMPLE / "malformed.jsonl", "--output", out,
                      "--sign-key", keys / "run.pub")
    assert code == 2 and "a public key cannot sign" in text
    code, text = _cli(capsys, "run", "--input", SAMPLE / "malformed.jsonl", "--output", out,
                      "--sign-key", keys / "short.hmac")
    assert code == 2 and "at least 32" in text
    assert not out.exists()  # refused before anything was written
    code, text = _cli(capsys, "validate", tmp_path / "no-such-folder")
    assert code == 2
    code, text = _cli(capsys, "validate", tmp_path, "--verify-key", tmp_path / "missing.key")
    assert code == 2 and "cannot read the key file" in text


def test_hmac_and_openssh_keys_sign_and_verify(capsys, tmp_path, keys):
    for sign, verify, wrong in (("run.hmac", "run.hmac", "run.pub"), ("other.key", "other.pub", "run.pub")):
        out = tmp_path / sign
        code, text = _cli(capsys, "run", "--input", SAMPLE / "malformed.jsonl", "--output", out, "--quiet",
                          "--set", "dedup.enabled=false", "--set", "run.max_error_share=0.8",
                          "--sign-key", keys / sign)
        assert code == 0, text
        code, text = _cli(capsys, "validate", out, "--verify-key", keys / verify)
        assert code == 0, text
        assert _cli(capsys, "validate", out, "--verify-key", keys / wrong)[0] == 1
        _edit_manifest(out, lambda m: m["totals"].update(input_bytes=1))
        code, text = _cli(capsys, "validate", out, "--verify-key", keys / verify)
        assert code == 1 and "the manifest changed after it was signed" in text


def test_missing_success_marker_and_left_temporary_files_are_findings(capsys, signed_run, tmp_path):
    out = _copy(signed_run, tmp_path)
    (out / "_SUCCESS").unlink(missing_ok=True)
    code, text = _cli(capsys, "validate", out)
    assert code == 1 and "_SUCCESS: missing: the output is incomplete" in text
    (out / "_SUCCESS").write_bytes(b"")
    (out / "refined" / ".refinery-tmp-part-00001-of-00002.parquet.0a1b2c").write_bytes(b"PAR1")
    code, text = _cli(capsys, "validate", out)
    assert code == 1 and "temporary file of an unfinished write" in text


def test_a_run_that_fails_mid_write_leaves_no_final_named_file_and_no_success(capsys, tmp_path, monkeypatch):
    """A write that fails half-way (disk full): no file under its final name, no _SUCCESS, manifest 'failed'."""
    from apache_beam.io.filesystems import FileSystems

    real_create = FileSystems.create

    def create(path, *args, **kwargs):
        f = real_create(path, *args, **kwargs)
        if "/rejected/" not in path:
            return f

        class HalfThenFull:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

            def write(self, data):
                f.write(data[: len(data) // 2])
                f.flush()
                raise OSError(28, "No space left on device")

            def close(self):
                f.close()

        return HalfThenFull()

    monkeypatch.setattr(FileSystems, "create", create)
    out = tmp_path / "o"
    code, text = _cli(capsys, "run", "--input", SAMPLE / "malformed.jsonl", "--output", out, "--quiet",
                      "--set", "dedup.enabled=false")
    monkeypatch.undo()
    assert code == 1 and "No space left on device" in text
    assert not (out / "_SUCCESS").exists()
    assert [p.name for p in (out / "rejected").rglob("*") if p.is_file()] == []  # the partial file was removed
    assert json.loads((out / MANIFEST).read_text())["status"] == "failed"
    code, text = _cli(capsys, "validate", out)
    assert code == 1 and "run status is 'failed'" in text


_KILL_MID_WRITE = textwrap.dedent("""\
    import os, signal, sys
    from apache_beam.io.filesystems import FileSystems
    real_create = FileSystems.create
    def create(path, *args, **kwargs):
        f = real_create(path, *args, **kwargs)
        if "/refined/" not in path:
            return f
        class HalfThenKilled:
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                f.close()
            def write(self, data):
                f.write(data[: len(data) // 2])
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
            def close(self):
                f.close()
        return HalfThenKilled()
    FileSystems.create = create
    from refinery.pipelines.cli import main
    sys.exit(main(["run", "--input", sys.argv[1], "--output", sys.argv[2], "--quiet"]))
""")


def test_a_stale_running_manifest_is_incomplete_not_a_run(capsys, signed_run, tmp_path):
    """What an OOM kill leaves: the manifest still says 'running', no _SUCCESS."""
    out = _copy(signed_run, tmp_path)
    _edit_manifest(out, lambda m: m.update(status="running"))
    (out / "_SUCCESS").unlink(missing_ok=True)
    for cmd in ("validate", "inspect"):
        code, text = _cli(capsys, cmd, out)
        assert code == 1, cmd
        assert "incomplete (the run was killed or is still running)" in text, cmd
    assert "doc_id_unique" not in _cli(capsys, "validate", out)[1]  # partial files are not evaluated as a dataset


@pytest.mark.slow
def test_a_killed_run_is_reported_incomplete_and_leaves_only_temporary_names(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-c", _KILL_MID_WRITE, str(SAMPLE / "udhr.jsonl"), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr
    refined = [p for p in (out / "refined").rglob("*") if p.is_file()]
    assert refined and all(p.name.startswith(".refinery-tmp-") for p in refined)  # no partial part-*.parquet
    assert not (out / "_SUCCESS").exists()
    assert json.loads((out / MANIFEST).read_text())["status"] == "running"
    for cmd in ("validate", "inspect"):
        r = subprocess.run([sys.executable, "-m", "refinery.pipelines.cli", cmd, str(out)], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert "incomplete (the run was killed or is still running)" in r.stdout, cmd
        assert "Traceback" not in r.stderr


def test_the_success_marker_is_written_last_and_only_for_a_run_that_succeeded(capsys, tmp_path, signed_run):
    m = json.loads((signed_run / MANIFEST).read_text())
    assert (signed_run / "_SUCCESS").stat().st_mtime_ns >= (signed_run / MANIFEST).stat().st_mtime_ns
    assert {r["path"] for r in m["report_files"]} >= {"reports/report.html", "reports/validation.json",
                                                       "croissant.json", "reports/_run/outputs.json"}
    out = tmp_path / "failed"
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "n", "text": "12345 67890 " * 30}) + "\n")
    code, _text = _cli(capsys, "run", "--input", tmp_path / "in.jsonl", "--output", out, "--quiet",
                       "--set", "validation.max_und_share=0", "--set", "validation.critical=[und_share]",
                       "--set", "quality.enabled=false", "--set", "licence.no_licence=allow")
    assert code == 1
    assert json.loads((out / MANIFEST).read_text())["status"] == "failed"
    assert not (out / "_SUCCESS").exists()


def test_is_refinery_temp_names_the_temporary_files():
    from refinery.atomic import is_refinery_temp, temp_path

    tmp = temp_path("gs://b/out/refined/lang=en/part-00000-of-00001.parquet")
    assert tmp.startswith("gs://b/out/refined/lang=en/.refinery-tmp-part-00000-of-00001.parquet.")
    assert not tmp.endswith(".parquet")  # no *.parquet glob takes a temporary file
    assert is_refinery_temp(tmp) and is_refinery_temp(".refinery-tmp-x") and is_refinery_temp("/a/.refinery-tmp-y")
    assert not is_refinery_temp("/a/part-00000-of-00001.parquet") and not is_refinery_temp("/.refinery-tmp-dir/x")


def test_a_config_written_before_todays_keys_existed_still_re_hashes_to_its_manifest():
    from refinery.pipelines.config import RunConfig
    from refinery.validators.integrity import _check_config, config_digest

    cfg = RunConfig()
    assert config_digest(cfg.model_dump(mode="json")) == cfg.sha256()  # the run's own hash, recomputed
    older = cfg.model_dump(mode="json")
    del older["dedup"]["cluster_step"]  # a release from before this key was added
    manifest = {"config": older, "config_sha256": config_digest(older)}
    problems: list[str] = []
    _check_config(manifest, None, problems)
    assert problems == []
    # read through today's model, the defaults of the new key would change the hash
    assert RunConfig.model_validate(older).sha256() != manifest["config_sha256"]
    edited = {**older, "dedup": {**older["dedup"], "threshold": 0.5}}
    _check_config({"config": edited, "config_sha256": manifest["config_sha256"]}, None, problems)
    assert len(problems) == 1 and problems[0].startswith("config: re-hashes to")


def test_refined_files_are_written_in_bounded_row_groups(tmp_path, monkeypatch):
    """A file holds row groups of at most ROW_GROUP_ROWS rows, so readers never decode a whole shard's
    column at once; the rows stay sorted by doc_id across them."""
    import pyarrow.parquet as pq

    from refinery.schemas import REFINED_SCHEMA
    from refinery.transforms.beam import write

    monkeypatch.setattr(write, "ROW_GROUP_ROWS", 3)
    spec = write._KindSpec(REFINED_SCHEMA, "lang", frozenset(REFINED_SCHEMA.names))
    fn = write._WriteShardFn(str(tmp_path), {"refined": spec}, "zstd")
    fn.setup()
    rows = [{f.name: None for f in REFINED_SCHEMA} | {"doc_id": f"{i:02d}", "text": f"t{i}", "source_uri": "a.jsonl"}
            for i in (5, 1, 4, 0, 3, 2, 6)]
    (fact,) = fn.process((("refined", "en", 0, 1), rows))
    f = pq.ParquetFile(fact["path"])
    assert [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)] == [3, 3, 1]
    assert f.read(columns=["doc_id"]).column("doc_id").to_pylist() == [f"{i:02d}" for i in range(7)]
