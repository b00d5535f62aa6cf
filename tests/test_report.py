"""report.html teaches: rejections per stage with their own histograms and example records (PII
redacted, with the `refinery explain` command), a per-language table, quality signals beside the
quality stage's own rejections; and it renders in headless Chromium without fetching anything."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from refinery.validators.aggregates import EXAMPLES_PER_REASON, Aggregator
from refinery.validators.reports import render_html

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _rejected(i: int, stage: str, reason: str, **extra) -> dict:
    return {"doc_id": f"d{i:03d}", "lang": extra.pop("lang", "en"), "reject_stage": stage, "reject_reason": reason,
            "reject_detail": f"detail {i}", "text": extra.pop("text", f"text of record {i} " * 5), **extra}


def _records() -> list[dict]:
    rows = [_rejected(i, "quality", "gopher_short_doc", quality={"n_words": 10 + i, "alpha_words_frac": 0.5})
            for i in range(7)]
    rows += [_rejected(100 + i, "dedup", "near_duplicate", dup_jaccard=0.85,
                       quality={"n_words": 900, "alpha_words_frac": 0.97}) for i in range(20)]
    rows += [_rejected(200 + i, "language", "lang_not_allowed", lang="fr", lang_score=0.95) for i in range(3)]
    rows.append(_rejected(300, "quality", "gopher_stop_words", lang="zh-Hans",
                          text="联系我 alice@example.com 或致电 +1 415 555 0100。" + "很好的文字。" * 200))
    return rows


def test_examples_are_the_smallest_keys_whatever_the_merge_order():
    rows = _records()
    whole = Aggregator()
    for r in rows:
        whole.add(r)
    a, b = Aggregator(), Aggregator()
    for r in rows[::2]:
        a.add(r)
    for r in rows[1::2]:
        b.add(r)
    merged = b.merge(a).result()
    assert merged["examples"] == whole.result()["examples"]
    assert all(len(v) <= EXAMPLES_PER_REASON for v in merged["examples"].values())
    assert len(merged["examples"]["dedup/near_duplicate"]) == 2
    assert merged["reject_by_lang"] == {"en": {"quality/gopher_short_doc": 7, "dedup/near_duplicate": 20},
                                        "fr": {"language/lang_not_allowed": 3},
                                        "zh-Hans": {"quality/gopher_stop_words": 1}}
    assert merged["stage_hist"] == whole.result()["stage_hist"]
    assert sum(merged["stage_hist"]["dedup"]["dup_jaccard"]) == 20
    assert sum(merged["stage_hist"]["quality"]["n_words"]) == 7  # the Chinese record carries no signals


def test_example_excerpts_are_redacted_and_cut():
    agg = Aggregator()
    for r in _records():
        agg.add(r)
    (ex,) = agg.result()["examples"]["quality/gopher_stop_words"]
    assert "alice@example.com" not in ex["excerpt"] and "555" not in ex["excerpt"]
    assert ex["excerpt"].endswith(" …") and len(ex["excerpt"]) <= 242


def _report(rows: list[dict], out_dir: str = "/data/out run") -> str:
    rej, ref = Aggregator(), Aggregator()
    for r in rows:
        rej.add(r)
    for i in range(40):
        ref.add({"doc_id": f"k{i}", "lang": "en" if i < 30 else "fr", "text": "kept text",
                 "quality": {"n_words": 300, "alpha_words_frac": 0.96}})
    manifest = {"run_id": "r1", "status": "succeeded", "totals": {}, "stages": {"language": "ran", "quality": "ran",
                                                                            "dedup": "ran"},
                "counters": {"ingest": {"seen": 71}, "language": {"seen": 71}, "quality": {"seen": 68},
                             "dedup": {"seen": 60}}}
    return render_html(manifest, {"refined": ref.result(), "rejected": rej.result()}, None, out_dir)


def test_report_has_stage_sections_examples_and_a_language_table():
    html = _report(_records())
    body = html.split("<h2>Rejections by stage</h2>", 1)[1]
    at = [body.index(f"<h3>{st}:") for st in ("language", "quality", "dedup")]
    assert at == sorted(at)  # pipeline order
    assert "<h3>dedup: 20 rejected</h3>" in body and "<h3>quality: 8 rejected</h3>" in body
    assert "refinery explain &#x27;/data/out run&#x27; d" in body  # a command to paste, quoted
    dedup = body.split("<h3>dedup:", 1)[1].split("<h3>", 1)[0]
    assert "dup_jaccard" in dedup and dedup.count("<code>near_duplicate</code>") == 2
    langs = html.split("<h2>Languages</h2>", 1)[1].split("</table>", 1)[0]
    rows = langs.split("<tr>")[2:]
    assert rows[0].startswith("<td>en</td>") and "30" in rows[0] and "27" in rows[0]  # 30 kept, 27 rejected
    assert "52.6 %" in rows[0] and "dedup/near_duplicate (20)" in rows[0]


def test_quality_histograms_show_the_quality_stages_rejections_not_dedups():
    html = _report(_records())
    section = html.split("<h2>Quality signals", 1)[1].split("<h2>", 1)[0]
    n_words = section.split("<code>n_words</code>", 1)[1].split("</div>", 1)[0]
    red = n_words.split('fill="#e45756"', 1)[1]
    # the 7 quality rejections with signals (all under 50 words), none of the 20 dedup ones (900 words)
    assert ">7</text>" in red and ">20</text>" not in red


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is needed (Debian: apt-get install chromium); `make test` installs it"
    return path


def _render(page: Path) -> tuple[str, list[str]]:
    """(the rendered DOM, the URLs the page itself asked the network for) from headless Chromium's net
    log. Chromium's own background requests carry no file:// isolation key and are not counted."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "net.json"
        dom = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--log-net-log={log}",
                              "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120,
                             check=True).stdout
        net = json.loads(log.read_text(encoding="utf-8"))
    names = {v: k for k, v in net["constants"]["logEventTypes"].items()}
    asked = []
    for event in net["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and \
                str(params.get("network_isolation_key", "")).startswith("file://"):
            asked.append(params["url"])
    return dom, asked


def test_the_external_resource_check_sees_a_page_that_fetches(tmp_path):
    page = tmp_path / "fetches.html"
    page.write_text('<!doctype html><p>x</p><img src="http://127.0.0.1:9/pixel.png">'
                    '<link rel="stylesheet" href="https://example.org/a.css">', encoding="utf-8")
    _dom, asked = _render(page)
    assert set(asked) == {"http://127.0.0.1:9/pixel.png", "https://example.org/a.css"}


@pytest.mark.usefixtures("demo_run")
def test_the_demo_report_renders_in_chromium_and_fetches_nothing(demo_run):
    out, _res = demo_run
    dom, asked = _render(out / "reports" / "report.html")
    assert asked == []
    for heading in ("Funnel: records per stage and reason", "Rejections by stage", "Languages",
                    "Quality signals", "Expectations"):
        assert heading in dom
    assert "refinery explain" in dom and "<svg" in dom
