"""The local run's reader of the label records (devkit.demo_review.label_records): it reads what
record_label writes with the schema's class, and refuses a record that breaks it."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest

from devkit.demo_review import label_records
from lambdas.shared.errors import InvalidLabelRecord
from tests.label_records import ROUTED

pytestmark = pytest.mark.integration


def test_label_records_reads_every_record_under_the_prefix(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="labels-bucket")
    reviewed = replace(
        ROUTED,
        inference_id="second",
        decision="reviewed",
        reason="audit",
        label="bicycle",
        reviewer="rev-1",
    )
    for record in (ROUTED, reviewed):
        s3.put_object(Bucket="labels-bucket", Key=record.key("labels/"), Body=record.json_line())
    s3.put_object(Bucket="labels-bucket", Key="elsewhere/x.jsonl", Body=b"not a record\n")
    found = label_records(s3, "s3://labels-bucket/labels/")
    assert sorted(found, key=lambda r: r.inference_id) == sorted(
        [ROUTED, reviewed], key=lambda r: r.inference_id
    )


def test_label_records_refuses_a_record_that_breaks_the_schema(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="labels-bucket")
    broken = ROUTED.json_line().replace(b'"routed"', b'"guessed"')
    s3.put_object(Bucket="labels-bucket", Key="labels/x.jsonl", Body=broken)
    with pytest.raises(InvalidLabelRecord, match="decision"):
        label_records(s3, "s3://labels-bucket/labels/")
