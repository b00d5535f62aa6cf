"""Stage ``write``: refined/, rejected/ and errors/ Parquet with lineage (``WriteOutputs``, the sink).

Adds the run's identity to every record; the Parquet schemas are derived from every stage's columns
(:mod:`refinery.schemas.records`). Config: ``output.*`` (a run-level section, not this stage's own).
"""

from __future__ import annotations

import pyarrow as pa

from refinery.stages.spec import Column, StageSpec

COLUMNS = (
    Column("run_id", pa.string(), "Identity of the run that wrote the record.", nullable=False, after="meta"),
    Column("refinery_version", pa.string(), "Refinery version that wrote the record.", nullable=False,
           after="run_id"),
    Column("config_sha256", pa.string(), "sha256 of the resolved run config (canonical JSON).", nullable=False,
           after="refinery_version"),
    Column("stages", pa.list_(pa.string()), "Stages the record went through, in order.", nullable=False,
           after="config_sha256"),
)

SPEC = StageSpec(
    name="write",
    role="sink",
    summary="refined/ (Hive-partitioned by lang), rejected/, errors/ — explicit schemas, lineage",
    columns=COLUMNS,
    label="WriteOutputs",
)
