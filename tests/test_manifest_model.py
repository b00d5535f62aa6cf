"""The run manifest's pydantic model (``refinery.schemas.manifest``): the sample run's manifest fits it and
is written through it unchanged; a manifest that departs from it is refused on write and reported by
``refinery validate``."""

from __future__ import annotations

import json
import shutil

import pytest
from pydantic import ValidationError

from refinery.schemas.manifest import Manifest, manifest_json, manifest_problems
from refinery.validators.revalidate import validate_output


@pytest.fixture(scope="module")
def manifest(demo_run):
    out, _res = demo_run
    return json.loads((out / "reports" / "manifest.json").read_text())


def test_the_sample_run_manifest_fits_the_model_and_is_written_unchanged(manifest):
    assert manifest_problems(manifest) == []
    m = Manifest.model_validate(manifest)
    assert m.status == "succeeded" and m.totals.records == 356 and m.reconciliation.ok
    assert m.counters["dedup"]["dropped:near_duplicate"] == 8
    written = manifest_json(manifest)
    assert list(written) == list(manifest)
    assert json.dumps(written, indent=2, ensure_ascii=False) == json.dumps(manifest, indent=2, ensure_ascii=False)


def test_a_manifest_that_departs_from_the_model_is_refused_naming_the_field(manifest):
    with pytest.raises(ValidationError, match="totals.refined"):
        manifest_json({**manifest, "totals": {**manifest["totals"], "refined": "many"}})
    problems = manifest_problems({**manifest, "status": "done", "extra_key": 1})
    assert any(p.startswith("manifest: status: ") for p in problems)
    assert any(p.startswith("manifest: extra_key: Extra inputs") for p in problems)
    missing = {k: v for k, v in manifest.items() if k != "run_id"}
    assert manifest_problems(missing) == ["manifest: run_id: Field required"]


def test_refinery_validate_reports_a_manifest_outside_the_model(demo_run, tmp_path):
    out, _res = demo_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    problems, _result = validate_output(str(copy))
    assert not [p for p in problems if p.startswith("manifest: ")]
    path = copy / "reports" / "manifest.json"
    m = json.loads(path.read_text())
    m["outputs"][0]["rows"] = "twelve"
    path.write_text(json.dumps(m, indent=2))
    problems, _result = validate_output(str(copy))
    assert "manifest: outputs.0.rows: Input should be a valid integer, unable to parse string as an integer" in problems


def test_an_undelivered_lineage_event_is_a_warning_not_a_failed_run(tmp_path, monkeypatch):
    from conftest import run_refinery

    import refinery.validators.lineage as lineage

    def unreachable(event, out_dir):
        raise ConnectionError("lineage backend unreachable")

    monkeypatch.setattr(lineage, "emit", unreachable)
    src = tmp_path / "docs.jsonl"
    src.write_text(json.dumps({"text": "The committee met on Tuesday to discuss the new library building and "
                                       "agreed that the reading room should stay open late in May."}) + "\n",
                   encoding="utf-8")
    res = run_refinery([src], tmp_path / "out")
    written = json.loads((tmp_path / "out" / "reports" / "manifest.json").read_text())
    assert res.exit_code == 0 and written["status"] == "succeeded"
    assert any("START event not delivered: ConnectionError" in w for w in written["warnings"])
    assert Manifest.model_validate(written).warnings == written["warnings"]
