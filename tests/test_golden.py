"""Golden end-to-end run: the bundled sample corpus through the default config.

Asserts the exact counts per output, stage and reason, and how each planted case (examples/README.md)
is handled.
"""

import json

import pytest

from refinery.arrow_io import read_output


@pytest.fixture(scope="module")
def outcome(demo_run):
    out, res = demo_run
    rows = {}
    for kind in ("refined", "rejected"):
        for r in read_output(str(out / kind)).to_pylist():
            rows.setdefault(r["original_id"], []).append((kind, r))
    errors = read_output(str(out / "errors")).to_pylist()
    return res.manifest, rows, errors


def one(rows, oid):
    assert len(rows[oid]) == 1, f"{oid} appears {len(rows[oid])} times"
    return rows[oid][0]


def test_exact_counts(outcome):
    m, _rows, errors = outcome
    assert m["totals"]["records"] == 356  # web.warc.gz's PNG is counted in its input's non_text_payloads
    assert (m["totals"]["refined"], m["totals"]["rejected"], m["totals"]["errors"]) == (318, 33, 5)
    warc = next(i for i in m["inputs"] if i["uri"].endswith("web.warc.gz"))
    assert warc["non_text_payloads"] == {"image/png": 1}
    c = m["counters"]
    assert c["ingest"]["dropped:empty_text"] == 1
    assert "dropped:non_text_payload" not in c["ingest"] and c["ingest"]["dropped:http_status_not_ok"] == 1
    assert c["dedup"]["dropped:exact_duplicate"] == 4 and c["dedup"]["dropped:near_duplicate"] == 8
    assert c["licence"]["seen"] == 349 and c["licence"]["kept"] == 345
    assert c["licence"]["dropped:licence_denied"] == 2 and c["licence"]["dropped:opted_out"] == 2
    assert c["quality"]["seen"] == 345 and c["quality"]["kept"] == 330
    assert len(errors) == 5
    assert all(f["ok"] for f in m["reconciliation"]["files"])


def test_every_input_record_appears_exactly_once(outcome, demo_run):
    out, _res = demo_run
    ids = []
    for kind in ("refined", "rejected"):
        ids += read_output(str(out / kind), columns=["doc_id"]).column("doc_id").to_pylist()
    assert len(ids) == len(set(ids)) == 351


@pytest.mark.parametrize("oid, stage, reason", [
    ("plant-empty-text", "ingest", "empty_text"),
    ("plant-copyright-en", "licence", "licence_denied"),
    ("plant-copyright-zh", "licence", "licence_denied"),
    ("plant-noai", "licence", "opted_out"),
    ("plant-very-short", "quality", "gopher_short_doc"),
    ("plant-repeated-lines", "quality", "gopher_stop_words"),  # one distinct stop word ("to"); 97 % dup lines too
    ("plant-keyword-list", "quality", "gopher_stop_words"),
    ("plant-symbol-soup", "quality", "gopher_short_doc"),
    ("plant-cookie-boilerplate", "quality", "c4_too_few_sentences"),
    # CLD2 reads lorem ipsum as Latin ("la", no stop-word list): the repeated passage fires first
    ("plant-lorem", "quality", "dup_ngram_char_frac"),
])
def test_planted_rejections(outcome, oid, stage, reason):
    _m, rows, _e = outcome
    kind, r = one(rows, oid)
    assert (kind, r["reject_stage"], r["reject_reason"]) == ("rejected", stage, reason)
    assert r["reject_detail"]


def test_signals_are_written_for_rejected_records(outcome):
    _m, rows, _e = outcome
    _k, r = one(rows, "plant-repeated-lines")
    assert r["quality"]["dup_line_frac"] > 0.9 and r["quality"]["n_lines"] == 40


def test_duplicates_keep_one_record_and_name_it(outcome):
    _m, rows, _e = outcome
    by_doc = {r["doc_id"]: (k, r) for lst in rows.values() for k, r in lst}
    for oid in ["plant-exact-dup-0", "plant-exact-dup-1", "plant-exact-dup-2", "plant-reformatted-dup",
                "plant-near-dup-0", "plant-near-dup-1", "plant-near-dup-2", "plant-chain-b"]:
        kind, r = one(rows, oid)
        kept = r["dup_cluster_id"]
        assert by_doc[kept][0] == "refined", oid
        assert r["dup_cluster_size"] >= 2
        if kind == "rejected":
            assert r["dup_of"] == kept and r["reject_reason"] in ("exact_duplicate", "near_duplicate")
    # the chain base ~ b ~ c ends in one cluster of 3, of which exactly one record is kept
    chain = [one(rows, "plant-chain-b"), one(rows, "plant-chain-c")]
    clusters = {r["dup_cluster_id"] for _k, r in chain}
    assert len(clusters) == 1 and all(r["dup_cluster_size"] == 3 for _k, r in chain)
    members = [by_doc[d] for d in by_doc if by_doc[d][1]["dup_cluster_id"] in clusters]
    assert sorted(k for k, _r in members) == ["refined", "rejected", "rejected"]
    assert all(r["reject_reason"] == "near_duplicate" for k, r in members if k == "rejected")


def test_script_variant_is_the_same_poem_in_simplified(outcome):
    _m, rows, _e = outcome
    kind, r = one(rows, "plant-script-variant")
    assert r["lang"] == "zh-Hans" and r["dup_cluster_size"] == 2
    if kind == "rejected":
        assert r["reject_reason"] == "exact_duplicate" and r["dup_jaccard"] == 1.0


def test_pii_is_counted_and_redacted_everywhere(outcome):
    _m, rows, _e = outcome
    _k, en = one(rows, "plant-pii-en")
    assert en["pii_counts"] == {"email": 1, "phone": 1, "ip_address": 1, "id_number": 0, "payment_card": 1}
    assert "maria.lopez" not in en["text"] and "4111" not in en["text"] and "<PAYMENT_CARD>" in en["text"]
    assert "2024-05-31" in en["text"] and "$25" in en["text"]  # dates and prices untouched
    _k, zh = one(rows, "plant-pii-zh")
    assert zh["pii_counts"] == {"email": 1, "phone": 1, "ip_address": 0, "id_number": 1, "payment_card": 0}
    assert "13812345678" not in zh["text"] and "<ID_NUMBER>" in zh["text"]


def test_encodings_and_languages(outcome):
    _m, rows, _e = outcome
    gb = [r for lst in rows.values() for _k, r in lst if r["source_uri"].endswith("gb18030_poems.txt")]
    assert len(gb) == 1 and gb[0]["lang"] == "zh-Hans" and "见一人光纱帽" in gb[0]["text"]
    _k, u16 = one(rows, "plant-utf16-0")
    assert u16["lang"] == "ru" and "UTF-16" in u16["text"]
    kind, long_doc = one(rows, "plant-very-long")
    assert kind == "refined" and long_doc["n_chars"] > 100_000 and long_doc["lang"] == "en"
    assert long_doc["lang_secondary"]


def test_web_pages(outcome, demo_run):
    out, _res = demo_run
    pages = {}
    for kind in ("refined", "rejected"):
        for r in read_output(str(out / kind)).to_pylist():
            if "web.warc" in r["source_uri"]:
                pages[json.loads(r["meta"])["url"]] = (kind, r)
    kind, en = pages["https://example.org/udhr/en"]
    assert kind == "refined" and en["lang"] == "en" and "Home" not in en["text"] and "Site map" not in en["text"]
    kind, zh = pages["https://example.cn/udhr/zh"]
    assert kind == "refined" and zh["lang"] == "zh-Hans" and json.loads(zh["meta"])["charset"] == "gb18030"
    kind, fr = pages["https://example.fr/udhr/fr"]
    assert kind == "rejected" and fr["reject_reason"] == "opted_out"
    assert "https://example.org/logo.png" not in pages  # no document: counted in the manifest
    assert pages["https://example.org/gone"][1]["reject_reason"] == "http_status_not_ok"
    kind, wet = pages["https://an.wikipedia.org/wiki/Escopete"]
    assert json.loads(wet["meta"])["cc_language"] == "spa"


def test_refined_languages(outcome):
    _m, rows, _e = outcome
    langs = {r["lang"] for lst in rows.values() for k, r in lst if k == "refined"}
    assert {"en", "fr", "de", "ru", "ar", "hi", "th", "ja", "ko", "zh-Hans", "zh-Hant"} <= langs


def test_manifest_identity(outcome):
    m, _rows, _e = outcome
    for key in ("run_id", "started_at", "finished_at", "refinery_version", "beam_version", "runner",
                "config_sha256", "inputs", "outputs", "counters", "reconciliation"):
        assert m[key] is not None, key
    assert m["stages"]["language"] == "ran" and m["stages"]["dedup"] == "ran" and m["stages"]["quality"] == "ran"
    json.dumps(m)


@pytest.mark.parametrize("oid, spdx, source, category, decision, kind", [
    ("plant-spdx-header", "Apache-2.0", "metadata", "permissive", "allow", "refined"),
    ("plant-cc-link", "CC-BY-SA-4.0", "text", "copyleft", "review", "refined"),
    ("plant-gpl-text", "GPL-2.0-or-later", "metadata", "copyleft", "review", "refined"),
    ("plant-copyright-zh", "LicenseRef-proprietary", "metadata", "proprietary", "deny", "rejected"),
    ("plant-noai", "CC-BY-NC-4.0", "metadata", "non-commercial", "deny", "rejected"),
    ("plant-pii-zh", "CC-BY-4.0", "metadata", "permissive", "allow", "rejected"),
])
def test_licence_cases(outcome, oid, spdx, source, category, decision, kind):
    _m, rows, _e = outcome
    k, r = one(rows, oid)
    assert (r["licence_spdx"], r["licence_source"], r["licence_category"], r["licence_decision"], k) == \
        (spdx, source, category, decision, kind)


def test_copyright_and_opt_out_columns(outcome):
    _m, rows, _e = outcome
    _k, en = one(rows, "plant-copyright-en")
    assert en["copyright_statements"] == ["Copyright (c) 2019-2021 Foo Inc."] and en["rights_reserved"]
    assert en["copyright_holders"] == ["Foo Inc."]
    _k, zh = one(rows, "plant-copyright-zh")
    assert zh["copyright_holders"] == ["某某公司"] and zh["rights_reserved"]
    _k, noai = one(rows, "plant-noai")
    assert noai["opted_out"] and "opt-out" in noai["reject_detail"]
