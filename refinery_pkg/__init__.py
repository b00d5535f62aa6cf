"""Refinery: crude text corpora in, training-grade refined Parquet out.

The top-level folders of the repository are installed as subpackages of this namespace:
``refinery.pipelines``, ``refinery.transforms``, ``refinery.schemas``, ``refinery.validators``.
"""

__version__ = "0.1.0"

import warnings as _warnings

# Importing Beam imports its Google Cloud clients, and each one warns, on every run, that Google will
# stop supporting this Python version in 2027: four lines of noise before the run's own output, about
# nothing a user of this run can act on.
_warnings.filterwarnings("ignore", message=r"You are using a Python version .* which Google will stop supporting",
                         category=FutureWarning)
