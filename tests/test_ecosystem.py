"""Outputs at home in the ecosystem: Hugging Face ``datasets`` (the dataset card), schema-only empty
parts, Croissant and OpenLineage."""

import json

import pyarrow.parquet as pq
import pytest
from conftest import run_refinery

from refinery.pipelines.outdir import OutputRefused, prepare_output
from refinery.validators.card import card_metadata, card_run_id, hub_languages, hub_licences, size_category
from refinery.validators.integrity import check_output


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Three clean English and Chinese documents: no errors, so errors/ is empty."""
    d = tmp_path_factory.mktemp("small")
    src = d / "docs.jsonl"
    docs = [{"id": "a", "text": "The committee met on Tuesday to discuss the new library building. Members agreed "
                                "that the reading room should stay open late during the exam period, and that "
                                "the budget for new books would be raised next year."},
            {"id": "b", "text": "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。这首诗写的是春天早晨醒来时的感受，"
                                "诗人听到鸟叫，想起夜里的风雨，不知道有多少花被打落了。"},
            {"id": "c", "text": "A short walk along the river brought us to the old mill, where the miller's "
                                "family has ground flour for four generations and still sells bread on Saturdays "
                                "to anyone who comes by before noon."}]
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in docs), encoding="utf-8")
    out = d / "out"
    res = run_refinery([src], out)
    assert res.exit_code == 0, res.messages
    return out, res


def test_load_dataset_reads_the_card_and_gives_lang(demo_run, tmp_path):
    import datasets
    out, res = demo_run
    every = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]
    assert every.num_rows == res.manifest["totals"]["refined"]
    langs = set(every["lang"])
    assert {"en", "zh-Hans", "zh-Hant"} <= langs
    zh = datasets.load_dataset(str(out), "zh-Hans", cache_dir=str(tmp_path / "cache"))["train"]
    assert set(zh["lang"]) == {"zh-Hans"} and 0 < zh.num_rows < every.num_rows
    assert zh.num_rows == sum(o["rows"] for o in res.manifest["outputs"] if o.get("partition") == "zh-Hans")
    row = zh[0]
    assert isinstance(row["quality"], dict) and isinstance(row["stages"], list)


def test_the_card_header_names_configs_licences_languages_and_size(demo_run):
    out, res = demo_run
    text = (out / "README.md").read_text(encoding="utf-8")
    meta = card_metadata(res.manifest, json.loads((out / "reports/_run/aggregates.json").read_text()))
    assert card_run_id(text) == res.manifest["run_id"]
    names = [c["config_name"] for c in meta["configs"]]
    assert names[0] == "default" and "zh-Hans" in names
    assert {"config_name": "zh-Hant", "data_files": [{"split": "train", "path": "refined/lang=zh-Hant/*.parquet"}]} \
        in meta["configs"]
    assert "zh" in meta["language"] and "en" in meta["language"] and "zh-Hans" not in meta["language"]
    assert meta["size_categories"] == ["n<1K"]
    assert all(lic == lic.lower() for lic in meta["license"]) and meta["license"]
    assert "## Funnel" in text and "load_dataset" in text


def test_card_helpers():
    assert hub_licences({"MIT OR Apache-2.0": 3, "LicenseRef-unknown": 1, "CC-BY-4.0": 0}) == \
        ["apache-2.0", "mit", "unknown"]
    assert hub_languages(["zh-Hans", "zh-Hant", "en", "und"]) == ["en", "zh"]
    assert [size_category(n) for n in (0, 999, 1000, 5_000_000)] == ["n<1K", "n<1K", "1K<n<10K", "1M<n<10M"]


def test_refined_files_hold_lang_and_hive_readers_still_merge(demo_run):
    out, _res = demo_run
    one = next((out / "refined" / "lang=ru").glob("*.parquet"))
    assert set(pq.read_table(one).column("lang").to_pylist()) == {"ru"}
    t = pq.read_table(out / "refined", columns=["doc_id", "lang"])
    assert {"ru", "zh-Hans"} <= set(t.column("lang").to_pylist())


def test_empty_parts_are_schema_only_files_and_validate(small_run):
    out, res = small_run
    assert res.manifest["totals"]["errors"] == 0
    errors = pq.read_table(out / "errors")
    assert errors.num_rows == 0 and {"source_uri", "raw", "error", "error_stage"} <= set(errors.column_names)
    assert pq.read_metadata(out / "errors" / "part-00000-of-00001.parquet").metadata[b"refinery.run_id"] \
        == res.manifest["run_id"].encode()
    assert any(o["kind"] == "errors" and o["rows"] == 0 for o in res.manifest["outputs"])
    assert check_output(str(out)) == []


def test_overwrite_deletes_the_card_but_never_a_users_readme(small_run, tmp_path):
    import shutil

    out, res = small_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert "README.md" in {r["path"] for r in res.manifest["report_files"]}
    # an earlier run's card is its own file: --overwrite deletes it
    deleted = prepare_output(str(copy), overwrite=True)
    assert "README.md" in deleted and not (copy / "README.md").exists()
    # a killed run (no report_files yet) next to a user's README.md: refused, nothing deleted
    shutil.rmtree(copy)
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "reports/manifest.json").read_text())
    manifest.pop("report_files")
    manifest["status"] = "running"
    (copy / "reports/manifest.json").write_text(json.dumps(manifest))
    (copy / "README.md").write_text("# my notes\n")
    with pytest.raises(OutputRefused, match="README.md"):
        prepare_output(str(copy), overwrite=True)
    assert (copy / "README.md").read_text() == "# my notes\n"


def test_croissant_lists_every_column_and_reads_nested_ones(demo_run):
    import mlcroissant as mlc

    from refinery.transforms.beam.write import refined_file_schema

    out, res = demo_run
    ds = mlc.Dataset(jsonld=str(out / "croissant.json"))
    fields = {f.name: f for f in ds.metadata.record_sets[0].fields}
    assert set(fields) == set(refined_file_schema().names)
    assert fields["stages"].repeated and {s.name for s in fields["quality"].sub_fields} >= {"n_words", "cjk_frac"}
    licences = json.loads((out / "croissant.json").read_text())["license"]
    assert licences and all(u.startswith("https://spdx.org/licenses/") and u.endswith(".html") for u in licences)
    assert "https://spdx.org/licenses/CC0-1.0.html" in licences
    first = next(iter(ds.records(record_set="refined")))
    assert isinstance(first["refined/quality"]["refined/quality/n_words"], int)
    assert first["refined/stages"][0] == b"ingest"
    # the dedup index: a second file set and record set, read too
    sketch = next(iter(ds.records(record_set="index")))
    assert sketch["index/doc_id"] and len(sketch["index/bands"]) == 18 and isinstance(sketch["index/bands"][0], int)


def test_openlineage_names_are_absolute_and_only_written_outputs_are_listed(demo_run):
    out, res = demo_run
    events = [json.loads(line) for line in (out / "reports/openlineage.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    done = events[-1]
    assert done["producer"].startswith("pkg:pypi/refinery@")
    assert {(o["namespace"], o["name"]) for o in done["outputs"]} == {
        ("file", str(out.resolve() / kind)) for kind in ("refined", "rejected", "errors")}
    assert all(i["namespace"] == "file" and i["name"].startswith("/") for i in done["inputs"])
    assert "errorMessage" not in done["run"].get("facets", {})


def test_a_fail_event_has_an_error_message_and_no_unwritten_outputs():
    from openlineage.client.serde import Serde

    from refinery.validators.lineage import build_event, dataset_id

    manifest = {"run_id": "r1", "input_patterns": ["gs://bkt/crude/*.jsonl"], "error": "ValueError: boom"}
    event = json.loads(Serde.to_json(build_event("FAIL", manifest, "gs://bkt/out")))
    assert event["run"]["facets"]["errorMessage"]["message"] == "ValueError: boom"
    assert event["outputs"] == []
    assert (event["inputs"][0]["namespace"], event["inputs"][0]["name"]) == ("gs://bkt", "crude/*.jsonl")
    assert dataset_id("gs://bkt/out/refined") == ("gs://bkt", "out/refined")
    assert dataset_id("relative/path")[1].startswith("/")


def test_report_funnel_is_in_pipeline_order_and_review_is_not_green(demo_run):
    from refinery.validators.reports import DECISION_COLOURS, decision_bars

    out, res = demo_run
    html = (out / "reports" / "report.html").read_text(encoding="utf-8")
    funnel = html.split("<h2>Funnel", 1)[1].split("</table>", 1)[0]
    at = [funnel.index(f"<td>{ns}</td>") for ns in ("ingest", "language", "licence", "quality", "dedup")]
    assert at == sorted(at)
    svg = decision_bars({"allow": 5, "review": 2})
    assert f'fill="{DECISION_COLOURS["review"]}"' in svg and svg.count('fill="#1a7f37"') == 1
    assert DECISION_COLOURS["review"] not in ("#1a7f37", "#54a24b")
