"""Gap: moto's Distributed Map `ResultWriter` throws the child results away.

moto's interpreter runs a Distributed Map with an S3 `ResultWriter`, but writes only a
`manifest.json` whose `ResultFiles` are empty ("TODO: results" upstream), so a batch's results
can't be read back. This patch writes them the way Step Functions does: the succeeded children's
results into `<Prefix><map run id>/SUCCEEDED_0.json` (a JSON list of
`{"Output": "<JSON string>", "Status": "SUCCEEDED"}`; AWS adds execution ARNs, inputs and dates,
which moto does not track here) and lists that file in the manifest's `ResultFiles.SUCCEEDED`.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

MARKER = "_writes_results"


def _target() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (  # noqa: E501
        resource_eval_s3,
    )

    return resource_eval_s3.ResourceEvalS3


def moto_still_drops_results() -> bool:
    target = _target()
    handler = getattr(target, "_original_handle_put_object", None) or target._handle_put_object
    return "TODO: results" in inspect.getsource(handler)


def apply() -> None:
    target = _target()
    if getattr(target._handle_put_object, MARKER, False) or not moto_still_drops_results():
        return
    target._original_handle_put_object = target._handle_put_object
    setattr(_handle_put_object, MARKER, True)
    target._handle_put_object = staticmethod(_handle_put_object)


def _handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    parameters = env.stack.pop()
    results = env.stack.pop()
    s3 = _target()._get_s3_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
    prefix = parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{map_run_arn.split(':')[-1]}/"
    succeeded = [
        {"Output": json.dumps(result, separators=(",", ":")), "Status": "SUCCEEDED"}
        for result in (results if isinstance(results, list) else [results])
    ]
    body = json.dumps(succeeded).encode("utf-8")
    s3.put_object(Bucket=parameters["Bucket"], Key=f"{folder}SUCCEEDED_0.json", Body=body)
    manifest = {
        "DestinationBucket": parameters["Bucket"],
        "MapRunArn": map_run_arn,
        "ResultFiles": {
            "FAILED": [],
            "PENDING": [],
            "SUCCEEDED": [{"Key": f"{folder}SUCCEEDED_0.json", "Size": len(body)}],
        },
    }
    key = f"{folder}manifest.json"
    s3.put_object(
        Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest, indent=2).encode()
    )
    details = {"Bucket": parameters["Bucket"], "Key": key}
    env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": details})
