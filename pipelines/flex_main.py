"""A Dataflow Flex Template's launcher entry point (``FLEX_TEMPLATE_PYTHON_PY_FILE``).

The launcher calls this file with the template's parameters as flags (``--input=gs://...
--output=gs://... --dedup_threshold=0.85 --runner=DataflowRunner ...``): exactly ``refinery run``'s.
``refinery template`` writes the parameters' metadata.json.
"""

import sys

from refinery.pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
