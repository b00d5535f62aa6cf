"""Refinery: crude text corpora in, training-grade refined Parquet out.

The top-level folders of the repository are installed as subpackages of this namespace:
``refinery.pipelines``, ``refinery.transforms``, ``refinery.schemas``, ``refinery.validators``.
"""

__version__ = "0.1.0"
