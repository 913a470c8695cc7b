"""The batch ASL: a Distributed Map over an S3 prefix, executed by moto's interpreter.

moto runs the Distributed Map (ItemReader s3:listObjectsV2, the item processor, ResultWriter);
its ResultWriter is patched to write the results (devkit/moto_patches/stepfunctions_result_writer).
"""

from __future__ import annotations

import pytest

from tests import images
from tests.stepfunctions.deployed import DEPLOYED_THRESHOLD

pytestmark = pytest.mark.integration


def test_batch_classifies_every_object_under_the_prefix(workflow):
    workflow.put_image("day-1/a.png", images.seeded("batch-a"))
    workflow.put_image("day-1/b.png", images.seeded("batch-b"))
    workflow.put_image("day-1/readme.txt", b"not an image")
    workflow.put_image("day-2/c.png", images.seeded("batch-c"))
    workflow.answer([0.99, 0.01], [0.99, 0.01])
    output, _ = workflow.run(
        {"s3_bucket": workflow.bucket, "s3_prefix": "day-1/", "threshold": 0.95}, batch=True
    )
    assert output["outcome"] == "Completed", output
    results = workflow.batch_results(output)
    assert sorted(results) == ["day-1/a.png", "day-1/b.png", "day-1/readme.txt"]
    assert results["day-1/a.png"]["outcome"] == "Routed"
    assert results["day-1/a.png"]["decision"]["threshold"] == 0.95
    assert results["day-1/b.png"]["decision"]["loading_bay"] == "bay-7"
    assert results["day-1/readme.txt"]["outcome"] == "InvalidImage"


def test_batch_without_threshold_uses_the_configured_one(workflow):
    workflow.put_image("in/x.png", images.seeded("batch-x"))
    workflow.answer([0.94, 0.06])
    output, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_prefix": "in/"}, batch=True)
    [result] = workflow.batch_results(output).values()
    assert (result["outcome"], result["decision"]["threshold"]) == ("Routed", DEPLOYED_THRESHOLD)


def test_batch_items_refuse_a_threshold_below_the_deployed_one(workflow):
    workflow.put_image("low/y.png", images.seeded("batch-y"))
    workflow.answer([0.8, 0.2])
    output, _ = workflow.run(
        {"s3_bucket": workflow.bucket, "s3_prefix": "low/", "threshold": 0.5}, batch=True
    )
    [result] = workflow.batch_results(output).values()
    assert (result["outcome"], result["error"]) == ("Failed", "ThresholdBelowDeployed")


def test_batch_request_without_prefix_is_reported(workflow):
    output, _ = workflow.run({"s3_bucket": workflow.bucket}, batch=True)
    assert output["outcome"] == "Failed"
    assert output["error"] == "InvalidEvent"
