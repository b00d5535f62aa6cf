from pathlib import Path

import pytest

from refinery.pipelines.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def cfg() -> RunConfig:
    return RunConfig()


def run_refinery(inputs, out_dir, cfg=None, beam_args=None):
    """Run the whole refinery in-process; returns the RunResult."""
    from refinery.pipelines.run import run

    return run([str(i) for i in inputs], str(out_dir), cfg or RunConfig(), beam_args or [], overwrite=True,
               quiet=True)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The demo: the whole sample corpus through the default config, once per test session."""
    out = tmp_path_factory.mktemp("demo") / "out"
    res = run_refinery([SAMPLE / "*"], out)
    return out, res
