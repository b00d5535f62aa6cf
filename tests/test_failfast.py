"""Runs wrong as a whole fail loudly (finding 6), and config values that cannot work are refused (7)."""

import json

import pytest

from refinery.pipelines.cli import main
from refinery.pipelines.config import ConfigError, load_config


def _run(*args):
    return main(["run", *args, "--quiet", "--set", "validation.enabled=false"])


def test_a_wrong_text_field_fails_before_the_pipeline(tmp_path, capsys):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps({"body": f"document {i}", "id": i}) + "\n" for i in range(50)))
    assert _run("--input", str(p), "--output", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "all errors" in err and "body, id" in err and "ingest.text_field" in err
    assert not (tmp_path / "out" / "reports").exists()


def test_a_json_array_is_not_json_lines(tmp_path, capsys):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"text": f"document number {i}"} for i in range(30)], indent=1))
    assert _run("--input", str(p), "--output", str(tmp_path / "out")) == 2
    assert "JSON array" in capsys.readouterr().err


def test_a_paths_list_beam_cannot_follow_fails_fast(tmp_path, capsys):
    import gzip

    p = tmp_path / "warc.paths.gz"
    p.write_bytes(gzip.compress(b"crawl-data/CC-MAIN-2024-10/segments/1/warc/a.warc.gz\n"))
    assert _run("--input", str(p), "--output", str(tmp_path / "out")) == 2
    assert "commoncrawl_prefix" in capsys.readouterr().err


def test_too_many_errors_fail_the_run_after_everything_is_written(tmp_path, capsys):
    p = tmp_path / "a.jsonl"
    good = [json.dumps({"text": f"A fine document, number {i}, with a few words."}) for i in range(10)]
    p.write_text("\n".join(good + ["{broken json"] * 30) + "\n")
    out = tmp_path / "out"
    assert _run("--input", str(p), "--output", str(out)) == 1
    err = capsys.readouterr().err
    assert "30 of 40 records (75%) are errors" in err and "JSONDecodeError" in err and str(p) in err
    m = json.loads((out / "reports" / "manifest.json").read_text())
    assert m["status"] == "failed" and m["totals"]["errors"] == 30 and m["reconciliation"]["ok"]
    assert not (out / "_SUCCESS").exists()
    assert _run("--input", str(p), "--output", str(out), "--overwrite", "--set", "run.max_error_share=0.8") == 0


def test_a_file_of_nothing_but_errors_fails_the_run(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"text": f"A fine document, number {i}."}) + "\n" for i in range(40)))
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    assert _run("--input", str(good), "--input", str(bad), "--output", str(tmp_path / "out")) == 1
    assert f"every one of the 1 records of {bad} is an error" in capsys.readouterr().err


def test_misspelled_flags_exit_2_with_a_suggestion(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run("--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "out"), "--overwite")
    assert exc.value.code == 2 and "did you mean --overwrite?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run("--input", "x", "--output", "y", "--wrokers", "2")
    assert "unknown flag --wrokers" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("output.target_shard_mb=1e-9", "greater than or equal to 0.001"),
    ("output.target_shard_mb=.inf", "finite number"),
    ("dedup.seed=4294967296", "less than or equal to 4294967295"),
    ("dedup.seed=-1", "greater than or equal to 0"),
    ("language.seed=-5", "greater than or equal to 0"),
    ("quality.thresholds.max_words=.nan", "finite number"),
    ("language.allowed=[english]", "did you mean 'en'?"),
    ("language.candidates=[en, chinese]", "did you mean 'zh'?"),
    ("language.allowed=[eng]", "use that"),
    ("quality.per_language={francais: {min_words: 3}}", "not a BCP-47 language tag"),
    ("run.max_error_share=1.5", "less than or equal to 1"),
])
def test_config_refuses_values_that_cannot_work(override, message):
    with pytest.raises(ConfigError) as exc:
        load_config(overrides=[override])
    assert message in str(exc.value)


def test_config_accepts_real_language_tags():
    cfg = load_config(overrides=["language.allowed=[en, zh, zh-Hant, pt-BR, kk, ps, an, fil, yue, sr-Latn]"])
    assert "an" in cfg.language.allowed
