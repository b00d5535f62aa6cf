"""Refinery's settings as Beam ``PipelineOptions``: one flag per config key.

Every leaf of the run configuration (``refinery config --defaults``) is also a pipeline option whose
name is its dotted key with ``_`` for ``.``: ``dedup.threshold`` is ``--dedup_threshold``,
``quality.thresholds.min_words`` is ``--quality_thresholds_min_words``. A value is read as YAML, as
``--set`` reads it (``--language_allowed='[en, zh]'``).

Which wins, lowest first: the defaults, the YAML config file, these option flags, ``--set``.

The run's pipeline is built with the whole resolved config as options (:func:`config_options`), so
the job's settings appear where a Beam user looks for them: Dataflow's job page, the manifest's
``pipeline_options``, and a Flex Template's parameters (``refinery template``: :func:`flex_metadata`).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal, get_args, get_origin

import yaml
from apache_beam.options.pipeline_options import PipelineOptions
from pydantic import BaseModel

from refinery.pipelines.config import RunConfig


class ConfigKey:
    """One leaf of the run config: its dotted key, its option name, its default and its documentation."""

    __slots__ = ("annotation", "default", "description", "dotted", "flag")

    def __init__(self, dotted: str, default: Any, description: str, annotation: Any):
        self.dotted = dotted
        self.flag = dotted.replace(".", "_")
        self.default = default
        self.description = description
        self.annotation = annotation


def _leaves(model: BaseModel, prefix: tuple[str, ...] = ()):
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, (*prefix, name))
        else:
            yield ConfigKey(".".join((*prefix, name)), value, field.description or "", field.annotation)


@functools.lru_cache(maxsize=1)
def config_keys() -> tuple[ConfigKey, ...]:
    """Every leaf of the run config, in ``refinery config --defaults`` order."""
    keys = tuple(_leaves(RunConfig()))
    flags = [k.flag for k in keys]
    clash = {f for f in flags if flags.count(f) > 1}
    if clash:  # two dotted keys that spell one flag: a config model change broke the naming
        raise RuntimeError(f"config keys share an option name: {sorted(clash)}")
    return keys


def option_value(value: Any) -> str:
    """A config value as an option string that YAML reads back to the same value."""
    if isinstance(value, str):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class RefineryOptions(PipelineOptions):
    """The run config as pipeline options (see the module docstring): ``--<section>_<key>=VALUE``."""

    @classmethod
    def _add_argparse_args(cls, parser):
        for key in config_keys():
            parser.add_argument(
                f"--{key.flag}", dest=key.flag, default=None, metavar="VALUE",
                help=f"config key {key.dotted} (YAML value; default {option_value(key.default)}). "
                     f"{key.description}")


def option_overrides(beam_args: list[str]) -> tuple[list[str], list[str]]:
    """Split Beam's flags into the config keys they set (as ``--set`` items, in order) and the rest."""
    flags = {f"--{k.flag}": k.dotted for k in config_keys()}
    overrides: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(beam_args):
        tok = beam_args[i]
        name, eq, value = tok.partition("=")
        if name in flags:
            if not eq:  # --flag VALUE
                if i + 1 >= len(beam_args):
                    overrides.append(f"{flags[name]}=")
                    break
                i += 1
                value = beam_args[i]
            overrides.append(f"{flags[name]}={value}")
        else:
            rest.append(tok)
        i += 1
    return overrides, rest


def config_options(cfg: RunConfig) -> dict[str, str]:
    """The resolved config as options, option name → value string: what the pipeline is built with,
    as keyword arguments (``PipelineOptions(flags, **config_options(cfg))``): Beam keeps keyword options
    apart from the flags it re-parses on every ``view_as``, which building a job calls hundreds of times
    (docs/PERFORMANCE.md)."""
    data = cfg.model_dump(mode="json")
    out = {}
    for key in config_keys():
        node: Any = data
        for part in key.dotted.split("."):
            node = node[part]
        out[key.flag] = option_value(node)
    return out


# ---- Dataflow Flex Template metadata -------------------------------------------------------------

def _param_type(key: ConfigKey) -> tuple[str, list[dict] | None]:
    ann = key.annotation
    if ann is bool:
        return "BOOLEAN", None
    if ann in (int, float):
        return "NUMBER", None
    if get_origin(ann) is Literal:
        return "ENUM", [{"value": str(v), "label": str(v)} for v in get_args(ann)]
    return "TEXT", None


def _help(text: str, default: Any) -> str:
    text = " ".join(text.split())
    return f"{text} Default: {option_value(default)}." if text else f"Default: {option_value(default)}."


def flex_metadata() -> dict:
    """A Dataflow Flex Template ``metadata.json``: ``input`` and ``output``, then one optional parameter
    per config key, with its documentation and default (from the config model)."""
    params: list[dict] = [
        {"name": "input", "label": "Input files",
         "helpText": "Crude input file or glob, e.g. gs://bucket/crude/*.jsonl.gz (JSONL[.gz|.zst], Parquet, "
                     ".txt, WARC/WET/ARC[.gz]).",
         "isOptional": False, "paramType": "TEXT", "regexes": [r"^gs://[^/]+/.+$"]},
        {"name": "output", "label": "Output folder",
         "helpText": "Output folder for refined/, rejected/, errors/ and reports/ (must be empty or new), "
                     "e.g. gs://bucket/refined/r1.",
         "isOptional": False, "paramType": "GCS_WRITE_FOLDER", "regexes": [r"^gs://[^/]+/.+$"]},
    ]
    for key in config_keys():
        ptype, enum = _param_type(key)
        param = {"name": key.flag, "label": key.dotted, "helpText": _help(key.description, key.default),
                 "isOptional": True, "paramType": ptype}
        if enum:
            param["enumOptions"] = enum
        params.append(param)
    return {
        "name": "Refinery",
        "description": "Refine crude text corpora into training-grade Parquet (refined/, rejected/, errors/) with "
                       "a manifest, lineage and validation reports. Parameters are Refinery's config keys "
                       "(`refinery config --defaults`).",
        "streaming": False,
        "parameters": params,
    }
