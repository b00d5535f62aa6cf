"""Refinery's settings as Beam PipelineOptions (one flag per config key) and the Flex Template metadata."""

import json
import re

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from refinery.pipelines.cli import main, resolve_run
from refinery.pipelines.config import ConfigError, RunConfig, load_config
from refinery.pipelines.options import (
    RefineryOptions,
    config_keys,
    config_options,
    flex_metadata,
    option_overrides,
    option_value,
)


def test_every_config_leaf_is_one_flag():
    keys = {k.dotted: k.flag for k in config_keys()}
    assert keys["dedup.threshold"] == "dedup_threshold"
    assert keys["quality.thresholds.min_words"] == "quality_thresholds_min_words"
    assert keys["output.compression"] == "output_compression"
    defaults = load_config().model_dump(mode="json")
    for dotted in keys:  # each names a leaf of the config, not a section
        node = defaults
        for part in dotted.split("."):
            node = node[part]
        assert not isinstance(node, dict) or dotted in ("licence.policy", "quality.fitted_per_language",
                                                        "validation.max_rejected_share") or node == {}


def test_strings_yaml_would_misread_are_quoted():
    for value in ("no", "1.0", "null", "on", "", "[a]", "en", "quality_longest", "a: b", 3, 0.8, None, True,
                  ["en", "zh"], {"deny": ["x"]}):
        assert yaml.safe_load(option_value(value)) == value, value


def test_the_resolved_config_round_trips_through_options():
    cfg = load_config(None, ["dedup.threshold=0.9", "language.allowed=[en, 'no']", "output.compression=none",
                             "quality.thresholds.min_words=7", "licence.ids={GPL-3.0-only: deny}"])
    flags = [f"--{k}={v}" for k, v in config_options(cfg).items()]
    sets, rest = option_overrides(["--runner=DirectRunner", *flags])
    assert rest == ["--runner=DirectRunner"]
    assert load_config(None, sets).sha256() == cfg.sha256()
    for opts in (PipelineOptions(flags), PipelineOptions([], **config_options(cfg))):
        view = opts.view_as(RefineryOptions)
        assert view.dedup_threshold == "0.9" and view.output_compression == "none"
        assert opts.get_all_options(drop_default=True)["language_allowed"] == '["en","no"]'


def test_option_flags_take_both_spellings_and_stay_in_order():
    sets, rest = option_overrides(["--dedup_threshold", "0.7", "--parallelism=2", "--dedup_threshold=0.75",
                                   "--language_allowed=[en]"])
    assert sets == ["dedup.threshold=0.7", "dedup.threshold=0.75", "language.allowed=[en]"]
    assert rest == ["--parallelism=2"]


def test_precedence_defaults_yaml_flags_set(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("dedup:\n  threshold: 0.75\nquality:\n  thresholds:\n    min_words: 11\n", encoding="utf-8")
    base = ["--input", "x.jsonl", "--output", str(tmp_path / "o")]
    _, cfg, beam = resolve_run([str(conf), *base])
    assert (cfg.dedup.threshold, cfg.quality.thresholds.min_words) == (0.75, 11)
    _, cfg, beam = resolve_run([str(conf), *base, "--dedup_threshold=0.85", "--runner=DirectRunner"])
    assert (cfg.dedup.threshold, cfg.quality.thresholds.min_words) == (0.85, 11)
    assert beam == ["--runner=DirectRunner"]  # the key flags are the config's, not passed on twice
    _, cfg, _ = resolve_run([str(conf), *base, "--set", "dedup.threshold=0.9", "--dedup_threshold=0.85"])
    assert cfg.dedup.threshold == 0.9
    assert RunConfig().dedup.threshold not in (0.75, 0.85, 0.9)


def test_a_bad_option_value_names_the_key(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"dedup\.threshold"):
        resolve_run(["--input", "x", "--output", str(tmp_path / "o"), "--dedup_threshold=2"])
    with pytest.raises(SystemExit) as exc:
        main(["run", "--input", "x", "--output", str(tmp_path / "o"), "--dedup_treshold=0.8"])
    assert exc.value.code == 2
    assert "did you mean --dedup_threshold" in capsys.readouterr().err


def test_the_manifest_holds_the_config_as_pipeline_options(demo_run):
    out, res = demo_run
    manifest = json.loads((out / "reports" / "manifest.json").read_text(encoding="utf-8"))
    opts = manifest["pipeline_options"]
    assert opts["dedup_threshold"] == option_value(manifest["config"]["dedup"]["threshold"])
    assert {f"{k.flag}" for k in config_keys()} <= set(opts)


def test_flex_template_parameters_come_from_the_config_schema():
    meta = flex_metadata()
    params = {p["name"]: p for p in meta["parameters"]}
    assert [p["name"] for p in meta["parameters"][:2]] == ["input", "output"]
    assert not params["input"]["isOptional"] and not params["output"]["isOptional"]
    assert set(params) == {"input", "output", *(k.flag for k in config_keys())}
    for p in meta["parameters"]:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", p["name"]) and p["label"] and p["helpText"]
        assert p["paramType"] in ("TEXT", "NUMBER", "BOOLEAN", "ENUM", "GCS_WRITE_FOLDER")
    assert params["dedup_threshold"]["paramType"] == "NUMBER"
    assert "Default: 0.8." in params["dedup_threshold"]["helpText"]
    assert {o["value"] for o in params["output_compression"]["enumOptions"]} == {"zstd", "snappy", "gzip", "none"}
    assert params["validation_enabled"]["paramType"] == "BOOLEAN"


def test_template_command_writes_and_never_replaces_unasked(tmp_path, capsys):
    target = tmp_path / "metadata.json"
    assert main(["template", "--output", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == flex_metadata()
    target.write_text("mine", encoding="utf-8")
    assert main(["template", "--output", str(target)]) == 2
    assert target.read_text(encoding="utf-8") == "mine"
    assert "--force" in capsys.readouterr().err
    assert main(["template", "--output", str(target), "--force"]) == 0
    assert main(["template", "--output", str(tmp_path)]) == 2
