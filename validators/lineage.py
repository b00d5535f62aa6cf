"""OpenLineage run events (openlineage-python): START when the run begins, COMPLETE or FAIL at its end.

Inputs carry the schema facet of what was read and data-quality metrics (rows, bytes); outputs
(refined, rejected, errors) carry the schema facet from ``schemas/``, output statistics (rows,
bytes, files) and the suite's assertions. Events are appended to ``reports/openlineage.jsonl`` and,
when the standard ``OPENLINEAGE_URL`` is set, also sent there with the client's HTTP transport.
Credentials in ``OPENLINEAGE_API_KEY`` are used by the client, never written.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid

from apache_beam.io.filesystems import FileSystems

from refinery.atomic import write_atomic

# The producer is the package that wrote the event, as a package URL (purl, a URI): the project has
# no public repository to name.
PRODUCER = f"pkg:pypi/refinery@{__import__('refinery').__version__}"
NAMESPACE = "refinery"


def _schema_facet(schema):
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(
                    name=f.name, type=str(f.type), description=(f.metadata or {}).get(b"description", b"").decode())
                for f in schema])


def dataset_id(uri: str) -> tuple[str, str]:
    """(namespace, name) of a file or folder per the OpenLineage naming spec (its client's ``naming``
    helpers): a local path is ``file`` + the absolute path, ``gs://b/k`` is ``gs://b`` + ``k``, any
    other ``scheme://host/path`` is ``scheme://host`` + ``path``."""
    from openlineage.client.naming.dataset import GCS, LocalFileSystem

    if "://" not in uri or uri.startswith("file://"):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        n = LocalFileSystem(path=os.path.abspath(path))
        return n.get_namespace(), n.get_name()
    scheme, rest = uri.split("://", 1)
    host, _sep, key = rest.partition("/")
    if scheme == "gs" and key:
        n = GCS(bucket_name=host, object_key=key)
        return n.get_namespace(), n.get_name()
    return f"{scheme}://{host}", key or "/"


def build_event(state: str, manifest: dict, out_dir: str, validation: dict | None = None):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset,
        data_quality_metrics_input_dataset,
        output_statistics_output_dataset,
    )

    from refinery.schemas import ERRORS_SCHEMA, REFINED_SCHEMA, REJECTED_SCHEMA

    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"refinery:{manifest['run_id']}"))
    inputs = []
    for i in manifest.get("inputs", []):
        metrics = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
            columnMetrics={}, rowCount=i.get("records"), bytes=i.get("bytes"))
        ns, name = dataset_id(i["uri"])
        inputs.append(InputDataset(namespace=ns, name=name, inputFacets={"dataQualityMetrics": metrics}))
    if not inputs:  # START: only the patterns are known
        inputs = [InputDataset(*dataset_id(p)) for p in manifest.get("input_patterns", [])]
    outputs = []
    assertions = None
    if validation:
        assertions = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=[
            data_quality_assertions_dataset.Assertion(assertion=c["id"], success=bool(c["success"]),
                                                      severity=c["severity"], description=c["description"],
                                                      actual=str(c["observed"])[:200])
            for c in validation["checks"]])
    finished = "outputs" in manifest
    for kind, schema in (("refined", REFINED_SCHEMA), ("rejected", REJECTED_SCHEMA), ("errors", ERRORS_SCHEMA)):
        files = [o for o in manifest.get("outputs", []) if o["kind"] == kind]
        if (finished and not files) or (state == "FAIL" and not finished):  # only outputs that exist
            continue
        facets = {"schema": _schema_facet(schema)}
        if kind == "refined" and assertions is not None:
            facets["dataQualityAssertions"] = assertions
        out_facets = {}
        if files:
            out_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=sum(o["rows"] for o in files), size=sum(o["bytes"] for o in files), fileCount=len(files))
        ns, name = dataset_id(FileSystems.join(out_dir, kind))
        outputs.append(OutputDataset(namespace=ns, name=name, facets=facets, outputFacets=out_facets))
    run_facets = {}
    if state == "FAIL":
        from openlineage.client.facet_v2 import error_message_run

        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(manifest.get("error") or "the run failed"), programmingLanguage="python")
    return RunEvent(
        eventType={"START": RunState.START, "COMPLETE": RunState.COMPLETE, "FAIL": RunState.FAIL}[state],
        eventTime=_dt.datetime.now(_dt.UTC).isoformat(),
        run=Run(runId=run_id, facets=run_facets), job=Job(namespace=NAMESPACE, name="refine"), producer=PRODUCER,
        inputs=inputs, outputs=outputs)


def emit(event, out_dir: str) -> None:
    """Append to reports/openlineage.jsonl; send over HTTP when OPENLINEAGE_URL is set."""
    from openlineage.client.serde import Serde

    line = Serde.to_json(event)
    path = FileSystems.join(out_dir, "reports", "openlineage.jsonl")
    previous = b""
    if FileSystems.exists(path):
        with FileSystems.open(path) as f:
            previous = f.read()
    write_atomic(path, previous + line.encode() + b"\n")  # object stores have no append: rewrite (a few lines)
    if os.environ.get("OPENLINEAGE_URL"):
        from openlineage.client import OpenLineageClient

        OpenLineageClient().emit(event)
