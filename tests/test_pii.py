"""PII at ingest: the phone grammar and SSNs (pure), the scrubber over records and errors, and the
ReadCrude transform redacting before anything routes a record."""

import json

import apache_beam as beam
import orjson
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import ConfigError, load_config
from refinery.transforms.pii import PLACEHOLDER, RAW_DROPPED_NOTE, PiiScrubber, find_pii, redact

ALL = set(PLACEHOLDER)


@pytest.mark.parametrize("number", [
    "206-543-9196", "415.555.0132", "1-800-555-0199", "030 12345678", "010-12345678",
    "(206) 543-9196", "+1 206 543 9196", "+49 30 12345678", "020 7946 0958", "06 12 34 56 78",
    "138 1234 5678", "03-1234-5678", "98765 43210",
])
def test_common_phone_formats_are_phones(number):
    text = f"For details call {number} during office hours."
    spans = find_pii(text)
    assert [(text[s:e], k) for s, e, k in spans] == [(number, "phone")]
    assert redact(text, spans, ALL) == "For details call <PHONE> during office hours."


@pytest.mark.parametrize("text", [
    "Write to the Free Software Foundation, 51 Franklin St, Boston, MA 02110-1301, USA.",  # ZIP+4
    "ISBN 978-3-16-148410-0 was printed on 2024-05-31 and again on 31.05.2024.",
    "The war lasted from 1939-1945; see pp. 123-456 and version 1.2.3.4.",
    "Order 2065439196 shipped; population 1412000000; open 10:30-11:45.",
    "Prices: $1,299.99 and 1.000.000 EUR; coordinates 47.6062, -122.3321.",
    "Serial 666-12-3456 and 123-00-4567 and 900-12-3456 are not valid SSNs.",
])
def test_numbers_that_are_not_pii(text):
    assert find_pii(text) == []


@pytest.mark.parametrize("text, ssn", [
    ("Her SSN is 123-45-6789.", "123-45-6789"),
    ("employee 078-05-1120 on file", "078-05-1120"),
    ("SSN: 123 45 6789", "123 45 6789"),
    ("social security number 123456789", "123456789"),
])
def test_us_social_security_numbers_are_id_numbers(text, ssn):
    assert [(text[s:e], k) for s, e, k in find_pii(text)] == [(ssn, "id_number")]


def test_bare_nine_digits_are_an_ssn_only_after_the_word():
    assert find_pii("invoice 123456789 paid") == []


def test_scrubber_counts_the_text_before_redacting_text_meta_and_id():
    rec = {"text": "Mail jane.doe@example.com or call 206-543-9196 or 206-543-9197.",
           "original_id": "user:jane.doe@example.com",
           "meta": orjson.dumps({"contact": {"phone": "030 12345678", "tags": ["x", "a@b.io"]},
                                 "card": 4111111111111111, "title": "fine", "a@b.io": 1},
                                option=orjson.OPT_SORT_KEYS).decode(),
           "n_chars": 0}
    counts = PiiScrubber().record(rec)
    assert counts == {"email": 1, "id_number": 0, "payment_card": 0, "ip_address": 0, "phone": 2}
    assert rec["pii_counts"] == counts
    assert rec["text"] == "Mail <EMAIL> or call <PHONE> or <PHONE>." and rec["n_chars"] == len(rec["text"])
    assert rec["original_id"] == "user:<EMAIL>"
    assert json.loads(rec["meta"]) == {"<EMAIL>": 1, "card": "<PAYMENT_CARD>", "title": "fine",
                                       "contact": {"phone": "<PHONE>", "tags": ["x", "<EMAIL>"]}}


def test_scrubber_redacts_only_the_configured_kinds_and_counts_stay_off_when_asked():
    rec = {"text": "jane.doe@example.com 206-543-9196", "original_id": None, "meta": None, "n_chars": 0}
    assert PiiScrubber(count=False, kinds={"phone"}).record(rec) is None
    assert rec == {"text": "jane.doe@example.com <PHONE>", "original_id": None, "meta": None, "n_chars": 28,
                   "pii_counts": None}
    rec = {"text": "jane.doe@example.com", "meta": None, "n_chars": 20}
    assert PiiScrubber(count=True, kinds=()).record(rec)["email"] == 1 and rec["text"] == "jane.doe@example.com"


@pytest.mark.parametrize("raw, expected", [
    (b'{"text": "unterminated jane.doe@example.com', b'{"text": "unterminated <EMAIL>'),
    (b'{"text": "caf\xe9 jane.doe@example.com"}', b'{"text": "caf\xe9 <EMAIL>"}'),  # Windows-1252
    ("电话 010-12345678 好".encode("gb18030"), "电话 <PHONE> 好".encode("gb18030")),
    ("mail jane.doe@example.com".encode("utf-16-le"), "mail <EMAIL>".encode("utf-16-le")),  # no BOM
    ("\ufeffSSN 123-45-6789".encode("utf-16-be"), "\ufeffSSN <ID_NUMBER>".encode("utf-16-be")),
    ("jane.doe@example.com é".encode()[:-1], b"<EMAIL> \xc3"),  # capped inside a character
])
def test_error_raw_bytes_are_redacted_in_their_own_encoding(raw, expected):
    err = {"raw": raw, "error": "JSONDecodeError: unexpected end of data"}
    assert PiiScrubber().error(err) and err["raw"] == expected


def test_undecodable_raw_bytes_are_dropped_unless_kept_on_request():
    raw = b"\x81 \x8d binary SSN 123-45-6789 \xff"
    err = {"raw": raw, "error": "JSONDecodeError: invalid"}
    assert not PiiScrubber().error(err)
    assert err["raw"] is None and err["error"] == "JSONDecodeError: invalid" + RAW_DROPPED_NOTE
    err = {"raw": raw, "error": "JSONDecodeError: invalid"}
    assert PiiScrubber(keep_undecodable_raw=True).error(err)
    assert err["raw"] == b"\x81 \x8d binary SSN <ID_NUMBER> \xff"


def test_error_messages_are_redacted():
    err = {"raw": None, "error": "ValueError: bad record from jane.doe@example.com"}
    PiiScrubber().error(err)
    assert err["error"] == "ValueError: bad record from <EMAIL>"


def test_phone_regions_are_validated():
    assert load_config(None, ["quality.pii.phone_regions=[US, BR]"]).quality.pii.phone_regions == ["US", "BR"]
    with pytest.raises(ConfigError, match="phone_regions.*unknown phone region"):
        load_config(None, ["quality.pii.phone_regions=[usa]"])


def test_read_crude_redacts_before_any_output(tmp_path):
    from refinery.transforms.beam.ingest import ReadCrude

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "id:jane.doe@example.com", "text": "call 206-543-9196", "who": "a@b.io"}\n'
                     b'{"id": "e", "text": "   "}\n'  # rejected at ingest (empty_text)
                     b'{"id": "e2", "text": "  ", "note": "SSN 123-45-6789"}\n'
                     b'{"text": "broken 415.555.0132\n'
                     b'\x81 \x8d 1-800-555-0199\n')
    cfg = load_config(None, [])
    with TestPipeline() as p:
        out = p | ReadCrude([str(path)], cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["original_id"], r["text"], r["meta"],
                                                              r["pii_counts"]["phone"])),
                    equal_to([("id:<EMAIL>", "call <PHONE>", '{"who":"<EMAIL>"}', 1)]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["original_id"], r["meta"])),
                    equal_to([("e", None), ("e2", '{"note":"SSN <ID_NUMBER>"}')]), label="rejected")
        assert_that(out["errors"] | "e" >> beam.Map(lambda r: (r["source_line"], r["raw"],
                                                                r["error"].endswith(RAW_DROPPED_NOTE))),
                    equal_to([(3, b'{"text": "broken <PHONE>', False), (4, None, True)]), label="errors")
