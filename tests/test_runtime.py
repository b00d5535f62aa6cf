"""refinery.runtime: tuning that must not change what Beam or the stages compute."""

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from refinery.runtime import memoise_dofn_specs


class _Counting(beam.DoFn):
    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, kv, count=beam.DoFn.StateParam(COUNT)):  # noqa: B008 - how Beam declares state
        n = (count.read() or 0) + 1
        count.write(n)
        yield kv[0], n


class _Plain(beam.DoFn):
    def process(self, x):
        yield x


def test_memoised_dofn_specs_answer_as_beam_does_and_stateful_dofns_still_run():
    stateful, plain = _Counting(), _Plain()
    before = [userstate.get_dofn_specs(fn) for fn in (stateful, plain)]
    assert memoise_dofn_specs() and memoise_dofn_specs()  # idempotent
    for _ in range(3):  # first answer computed, later ones from the memo: equal, and fresh sets each time
        after = [userstate.get_dofn_specs(fn) for fn in (stateful, plain)]
        assert after == before
        after[0][0].clear()
    assert userstate.is_stateful_dofn(stateful) and not userstate.is_stateful_dofn(plain)
    with TestPipeline() as p:
        out = p | beam.Create([("a", 1), ("a", 2), ("b", 3)]) | beam.ParDo(_Counting())
        assert_that(out, equal_to([("a", 1), ("a", 2), ("b", 1)]))


def test_the_cli_starts_the_suite_early_only_for_an_in_process_run():
    from refinery.pipelines.cli import _beam_flag, _early_suite
    from refinery.pipelines.config import load_config

    assert _beam_flag(["--runner", "FlinkRunner", "--parallelism=2"], "runner") == "FlinkRunner"
    assert _beam_flag(["--parallelism=2"], "parallelism") == "2"
    assert _beam_flag(["--dry_run", "--runner=X"], "dry_run") == ""
    assert _beam_flag([], "runner") is None
    cfg = load_config()
    assert _early_suite(cfg, ["--runner", "FlinkRunner"]) is None
    assert _early_suite(cfg, ["--direct_running_mode=multi_processing"]) is None
    assert _early_suite(cfg, ["--dry_run"]) is None
    assert _early_suite(load_config(overrides=["validation.enabled=false"]), []) is None
