import numpy as np

from refinery.transforms.table_cache import cache_dir, cached_table


def test_a_table_is_built_once_then_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    calls = []

    def build():
        calls.append(1)
        return np.arange(10, dtype=np.int8)

    first = cached_table("t", "deps 1", build)
    again = cached_table("t", "deps 1", build)
    assert calls == [1] and np.array_equal(first, again) and not again.flags.writeable
    cached_table("t", "deps 2", build)  # anything it depends on changed: rebuilt
    assert calls == [1, 1] and len(list(tmp_path.glob("t-*.npy"))) == 2


def test_a_damaged_file_is_rebuilt_and_an_unwritable_cache_still_gives_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_CACHE_DIR", str(tmp_path))
    cached_table("t", "d", lambda: np.ones(4, dtype=np.int8))
    (path,) = tmp_path.glob("t-*.npy")
    path.write_bytes(b"not an npy file")
    assert np.array_equal(cached_table("t", "d", lambda: np.ones(4, dtype=np.int8)), np.ones(4))
    blocked = tmp_path / "file"
    blocked.write_text("x")
    monkeypatch.setenv("REFINERY_CACHE_DIR", str(blocked / "sub"))  # a directory cannot be made here
    assert np.array_equal(cached_table("u", "d", lambda: np.zeros(3, dtype=np.int8)), np.zeros(3))


def test_the_cached_lookup_tables_equal_freshly_built_ones(tmp_path, monkeypatch):
    from refinery.transforms import language, quality_kernel

    monkeypatch.setenv("REFINERY_CACHE_DIR", str(tmp_path))
    for getter, build in ((language.zh_variant_table, language._build_zh_variant_table),
                          (quality_kernel.char_table, quality_kernel._build_char_table)):
        getter.cache_clear()
        try:
            cold = getter()  # built and stored
            getter.cache_clear()
            warm = getter()  # read back
        finally:
            getter.cache_clear()
        assert np.array_equal(cold, warm) and np.array_equal(warm, build())
    assert len(list(tmp_path.glob("*.npy"))) == 2
