"""--overwrite, the output lock and input matching, through the CLI (findings 1 and 3 of the audit)."""

import json
import os
import socket
import subprocess
import sys

import pytest

from refinery.pipelines.cli import main


def _run(*args):
    return main(["run", *args, "--quiet", "--set", "validation.enabled=false"])


@pytest.fixture
def crude(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.jsonl").write_text('{"text": "The first document of this small test corpus."}\n')
    (d / "back\\slash.jsonl").write_text('{"text": "A file whose name holds a backslash."}\n')
    return d


def _manifest(out):
    return json.loads((out / "reports" / "manifest.json").read_text())


def test_a_backslash_in_a_file_name_is_read_not_skipped(crude, tmp_path):
    out = tmp_path / "out"
    assert _run("--input", str(crude / "*"), "--output", str(out)) == 0
    m = _manifest(out)
    assert m["totals"]["records"] == 2 and len(m["reconciliation"]["files"]) == 2
    assert not (out / ".refinery.lock").exists()


def test_overwrite_never_deletes_what_refinery_did_not_write(crude, tmp_path):
    user = tmp_path / "user"
    (user / "photos").mkdir(parents=True)
    (user / ".git").mkdir()
    for f in ("thesis.docx", "photos/a.jpg", ".git/HEAD"):
        (user / f).write_text("mine")
    assert _run("--input", str(crude / "*"), "--output", str(user), "--overwrite") == 2
    assert sorted(str(p.relative_to(user)) for p in user.rglob("*")) == [
        ".git", ".git/HEAD", "photos", "photos/a.jpg", "thesis.docx"]
    # an earlier run's folder with one foreign file: refused, nothing deleted
    out = tmp_path / "out"
    assert _run("--input", str(crude / "*"), "--output", str(out)) == 0
    before = sorted(p for p in out.rglob("*"))
    (out / "notes.txt").write_text("mine")
    assert _run("--input", str(crude / "*"), "--output", str(out), "--overwrite") == 2
    assert sorted(p for p in out.rglob("*") if p.name != "notes.txt") == before
    os.remove(out / "notes.txt")
    first = _manifest(out)["run_id"]
    assert _run("--input", str(crude / "*"), "--output", str(out), "--overwrite") == 0
    assert _manifest(out)["run_id"] != first


def test_output_holding_or_reached_by_an_input_is_refused(crude, tmp_path, capsys):
    assert _run("--input", str(crude / "a.jsonl"), "--output", str(crude), "--overwrite") == 2
    assert (crude / "a.jsonl").exists() and "holds the input file" in capsys.readouterr().err
    out = tmp_path / "deep" / "out"
    assert _run("--input", str(tmp_path / "**" / "*.json*"), "--output", str(out)) == 2
    assert "reaches into it" in capsys.readouterr().err
    assert not out.exists()


def test_a_live_lock_refuses_a_second_run_and_a_stale_one_is_reported(crude, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".refinery.lock").write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(),
                                                         "run_id": "other"}))
        assert _run("--input", str(crude / "*"), "--output", str(out), "--overwrite") == 2
        assert "another refinery run is writing there" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _run("--input", str(crude / "*"), "--output", str(out), "--overwrite") == 0
    assert "stale lock" in capsys.readouterr().err
    assert not (out / ".refinery.lock").exists()
    (out / ".refinery.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "run_id": "x"}))
    assert _run("--input", str(crude / "*"), "--output", str(out), "--overwrite") == 2
    assert "remove that file" in capsys.readouterr().err


def test_a_symlink_loop_is_walked_once(crude, tmp_path):
    (crude / "sub").mkdir()
    os.symlink("..", crude / "sub" / "up")
    out = tmp_path / "out"
    assert _run("--input", str(crude / "**" / "*.jsonl"), "--output", str(out)) == 0
    assert _manifest(out)["totals"]["records"] == 2
