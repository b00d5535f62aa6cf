import pytest
import yaml

from refinery.pipelines.config import ConfigError, RunConfig, defaults_yaml, load_config, parse_override


def test_defaults_yaml_round_trips_to_the_default_config():
    assert RunConfig.model_validate(yaml.safe_load(defaults_yaml())) == RunConfig()


def test_every_key_in_defaults_is_documented():
    lines = defaults_yaml().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  ") and not line.strip().startswith("#"):
            assert lines[i - 1].strip().startswith("#"), f"undocumented key: {line.strip()}"


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("dedup:\n  treshold: 0.9\n")
    with pytest.raises(ConfigError, match=r"dedup\.treshold: unknown key"):
        load_config(p)


def test_wrong_type_is_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("language:\n  allowed: en\n")
    with pytest.raises(ConfigError, match=r"language\.allowed"):
        load_config(p)


def test_impossible_value_is_named():
    with pytest.raises(ConfigError, match=r"dedup\.threshold: Input should be less than or equal to 1"):
        load_config(None, ["dedup.threshold=1.5"])


def test_set_overrides_with_yaml_values():
    cfg = load_config(None, ["dedup.enabled=false", "language.allowed=[en, zh]", "dedup.num_perm=64"])
    assert cfg.dedup.enabled is False
    assert cfg.language.allowed == ["en", "zh"]
    assert cfg.dedup.num_perm == 64


def test_set_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("dedup.enabled")


def test_top_level_must_be_a_mapping(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)


def test_config_hash_changes_with_any_value():
    assert RunConfig().sha256() != load_config(None, ["dedup.threshold=0.81"]).sha256()
    assert RunConfig().sha256() == RunConfig().sha256()
