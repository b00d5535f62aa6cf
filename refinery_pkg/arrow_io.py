"""Reading Parquet in a process that also has grpc loaded (Beam's GCP extra always loads it).

pyarrow's threaded readers and grpc (1.7x-1.85, pyarrow 25-26) abort the process at interpreter
exit ("terminate called without an active exception", exit status 134) in most runs once a table
has been read with threads. Reading with ``use_threads=False`` never does (measured: 0 of 6 vs 5 of
6). Every in-process Parquet read in Refinery goes through these helpers; the files involved are
small (reports, validation, inspection) or read shard by shard.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def hive_partitioning():
    """Hive partitioning as ``pq.read_table`` discovers it: values dictionary-encoded, the type of the
    ``lang`` column inside the refined files (so the path's column and the file's merge)."""
    return ds.HivePartitioning.discover(infer_dictionary=True)


def read_table(source, **kwargs) -> pa.Table:
    return pq.read_table(source, use_threads=False, **kwargs)


def dataset_table(dataset: ds.Dataset, **kwargs) -> pa.Table:
    return dataset.to_table(use_threads=False, **kwargs)


def read_output(path: str, **kwargs) -> pa.Table:
    """A refined/ rejected/ or errors/ folder as one table (Hive partitions become columns)."""
    return dataset_table(ds.dataset(path, format="parquet", partitioning=hive_partitioning()), **kwargs)
