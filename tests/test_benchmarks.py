"""The benchmark corpus generator: deterministic, the composition it documents (on a tiny stand-in
for ../shared/data, so the test needs nothing outside the repository)."""

import json

import pytest

from benchmarks.corpus import generate


@pytest.fixture
def fake_shared(tmp_path):
    shared = tmp_path / "shared"
    (shared / "udhr").mkdir(parents=True)
    (shared / "spdx-licenses").mkdir()
    poems = ["春眠不觉晓处处闻啼鸟夜来风雨声花落知多少" * 2, "床前明月光疑是地上霜举头望明月低头思故乡" * 2,
             "白日依山尽黄河入海流欲穷千里目更上一层楼" * 2]
    with open(shared / "cjk-poetry.jsonl", "w", encoding="utf-8") as f:
        for i in range(40):
            f.write(json.dumps({"id": str(i), "text": poems[i % 3] + str(i)}, ensure_ascii=False) + "\n")
    with open(shared / "udhr" / "data.jsonl", "w", encoding="utf-8") as f:
        for variant, iso, para in (("eng", "en", "Everyone has the right to life, liberty and security of person {}."),
                                   ("fra", "fr", "Tout individu a droit à la vie, à la liberté et à la sûreté {}."),
                                   ("xyz", "", "Kila mtu ana haki ya kuishi, uhuru na usalama wa nafsi yake {}."),
                                   ("cmn_hans", "zh", "人人有权享有生命、自由和人身安全。"
                                                      "人人生而自由，在尊严和权利上一律平等。"
                                                      "他们赋有理性和良心，这是第{}条。")):
            for i in range(25):
                f.write(json.dumps({"text": para.format(i), "source": "udhr2", "variant": variant,
                                    "lang_iso639_1": iso}, ensure_ascii=False) + "\n")
    with open(shared / "spdx-licenses" / "data.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"spdx_id": "MIT", "text": "Permission is hereby granted, free of charge...\n" * 5}) + "\n")
    return shared


def test_corpus_is_deterministic_and_mixed(fake_shared, tmp_path):
    a = generate(fake_shared, 0.2, tmp_path / "a", shards=3)
    b = generate(fake_shared, 0.2, tmp_path / "b", shards=3)
    assert a == b
    for i in range(3):
        name = f"shard-{i:03d}.jsonl"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = []
    for i in range(3):
        with open(tmp_path / "a" / f"shard-{i:03d}.jsonl", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    assert len(rows) == a["docs"] and a["file_bytes"] >= 0.2e6
    assert len({r["id"] for r in rows}) == len(rows)
    texts = [r["text"] for r in rows]
    assert len(texts) - len(set(texts)) >= a["exact_copies"] > 0 and a["near_copies"] > 0
    assert 0.3 < a["cjk_docs"] / a["docs"] < 0.7
    assert any("license" in r for r in rows)


def test_a_run_that_fails_its_checks_is_reported_and_the_benchmark_goes_on(tmp_path, monkeypatch):
    import json
    import types

    from benchmarks import run as harness

    out = tmp_path / "out"
    (out / "reports").mkdir(parents=True)
    (out / "reports" / "manifest.json").write_text(json.dumps(
        {"wall_seconds": 12.5, "validation_seconds": 1.0, "busy_seconds": {}, "counters": {},
         "totals": {"records": 10}}))
    stderr = ("refinery: warning: something\nrefinery: reconciliation FAILED for f.jsonl: read 10 records, wrote 4 "
              "refined + 2 rejected + 3 errors\n")
    stdout = json.dumps({"exit": 1, "peak_rss_mb": 100.0, "self_peak_rss_mb": 100.0, "children_peak_rss_mb": 90.0})
    monkeypatch.setattr(harness, "run_sampled", lambda *a, **k: (types.SimpleNamespace(returncode=1, stdout=stdout,
                                                                                       stderr=stderr), []))
    r = harness.run_refinery(tmp_path, out, 2)
    assert r["exit"] == 1 and r["failed"] == [
        "reconciliation FAILED for f.jsonl: read 10 records, wrote 4 refined + 2 rejected + 3 errors"]
    assert r["pipeline_seconds"] == 12.5
    (out / "reports" / "manifest.json").unlink()  # no manifest: the run itself broke, nothing to report
    with pytest.raises(SystemExit):
        harness.run_refinery(tmp_path, out, 2)


def test_tree_sampler_sees_every_process_and_its_peak():
    import subprocess
    import sys

    from benchmarks._proctree import TreeSampler

    # A parent whose child holds ~150 MB for a moment: both appear, the child with its peak.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; b = bytearray(150 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(1.5)'])")
    proc = subprocess.Popen([sys.executable, "-c", code])
    sampler = TreeSampler(proc.pid, interval=0.1)
    proc.wait()
    peaks = sampler.stop()
    assert len(peaks) == 2
    assert max(p["peak_rss_mb"] for p in peaks) >= 140
    assert min(p["peak_rss_mb"] for p in peaks) < 100
