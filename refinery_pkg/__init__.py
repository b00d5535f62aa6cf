"""Refinery: crude text corpora in, training-grade refined Parquet out.

The top-level folders of the repository are installed as subpackages of this namespace:
``refinery.pipelines``, ``refinery.transforms``, ``refinery.schemas``, ``refinery.validators``.
"""

import os as _os

# pyarrow's default allocator (mimalloc/jemalloc) and grpc (imported by Beam's GCP extra) abort the
# process at interpreter exit ("terminate called without an active exception", exit 134) once a
# table has been read with threads. The system allocator does not; it must be chosen before pyarrow
# allocates anything, hence here, in the first module of the namespace to be imported.
_os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
