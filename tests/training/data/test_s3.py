"""Staging to S3 against the emulator: channel layout, idempotence, SSE-KMS, missing bucket."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from training.data.__main__ import main
from training.data.errors import BucketNotFoundError, S3StagingError
from training.data.s3 import make_client, parse_s3_uri, sync_dataset
from training.data.stage import stage

pytestmark = pytest.mark.integration
# 26 images (16 train, 4 validation, 6 test), 3 .lst, 3 manifests, 1 card
OBJECTS = 33


def keys(s3, prefix: str = "datasets/bikes/") -> dict[str, dict]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return {item["Key"]: item for page in pages for item in page.get("Contents", [])}


def counting_client():
    client = make_client(8)
    calls = {"PutObject": 0}

    def count(**_: object) -> None:
        calls["PutObject"] += 1

    client.meta.events.register("before-call.s3.PutObject", count)
    return client, calls


class BucketClient:
    """An S3 client plus a fresh bucket of its own (no emulator reset: resets are slow)."""

    def __init__(self) -> None:
        self.client = boto3.client("s3")
        self.bucket = f"data-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=self.bucket)
        self.uri = f"s3://{self.bucket}/datasets/bikes"

    def __getattr__(self, name: str):
        return getattr(self.client, name)


@pytest.fixture
def s3(emulator) -> BucketClient:
    return BucketClient()


def test_channels_manifests_and_card_land_under_the_prefix(s3, tiny_archive, tmp_path):
    result = stage(str(tiny_archive[0]), tmp_path / "out", s3_uri=s3.uri, progress=False)
    objects = keys(s3)
    channels = {key.split("/")[2] for key in objects}
    assert channels == {
        "train",
        "validation",
        "test",
        "train_lst",
        "validation_lst",
        "test_lst",
        "manifests",
        "dataset_card.json",
    }
    assert "datasets/bikes/train_lst/train.lst" in objects
    assert result.upload is not None and result.upload.uploaded == len(objects) == OBJECTS
    lst = s3.get_object(Bucket=s3.bucket, Key="datasets/bikes/train_lst/train.lst")["Body"].read()
    for line in lst.decode().splitlines():
        assert f"datasets/bikes/train/{line.split(chr(9))[2]}" in objects
    manifest = s3.get_object(Bucket=s3.bucket, Key="datasets/bikes/manifests/validation.jsonl")
    for line in manifest["Body"].read().decode().splitlines():
        ref = parse_s3_uri(json.loads(line)["source-ref"])
        assert ref.bucket == s3.bucket and ref.prefix in objects
    head = s3.head_object(Bucket=s3.bucket, Key=next(k for k in objects if k.endswith(".png")))
    assert head["ContentType"] == "image/png" and len(head["Metadata"]["sha256"]) == 64
    card = json.loads(
        s3.get_object(Bucket=s3.bucket, Key="datasets/bikes/dataset_card.json")["Body"].read()
    )
    assert card["s3_uri"] == s3.uri
    assert result.upload.channels()["train_lst"] == f"{s3.uri}/train_lst/"


def test_second_run_uploads_nothing(s3, tiny_archive, tmp_path):
    stage(str(tiny_archive[0]), tmp_path / "out", s3_uri=s3.uri, progress=False)
    before = {k: v["LastModified"] for k, v in keys(s3).items()}
    client, calls = counting_client()
    report = sync_dataset(tmp_path / "out", s3.uri, client=client, progress=False)
    assert calls["PutObject"] == 0
    assert (report.uploaded, report.skipped, report.deleted) == (0, OBJECTS, 0)
    assert {k: v["LastModified"] for k, v in keys(s3).items()} == before


def test_changed_remote_object_is_uploaded_again(s3, tiny_archive, tmp_path):
    stage(str(tiny_archive[0]), tmp_path / "out", s3_uri=s3.uri, progress=False)
    s3.put_object(Bucket=s3.bucket, Key="datasets/bikes/test.lst", Body=b"x")  # not a channel
    s3.put_object(Bucket=s3.bucket, Key="datasets/bikes/test_lst/test.lst", Body=b"tampered")
    client, calls = counting_client()
    report = sync_dataset(tmp_path / "out", s3.uri, client=client, progress=False)
    # the tampered object, then the card (removed while data changes, put back last)
    assert calls["PutObject"] == 2 and report.uploaded == 2
    body = s3.get_object(Bucket=s3.bucket, Key="datasets/bikes/test_lst/test.lst")["Body"].read()
    assert body == (tmp_path / "out" / "test.lst").read_bytes()


def test_resplit_deletes_stale_channel_objects_only(s3, tiny_archive, tmp_path):
    stage(str(tiny_archive[0]), tmp_path / "out", s3_uri=s3.uri, seed=1, progress=False)
    s3.put_object(Bucket=s3.bucket, Key="datasets/bikes/models/keep.txt", Body=b"not ours")
    result = stage(str(tiny_archive[0]), tmp_path / "out", s3_uri=s3.uri, seed=2, progress=False)
    assert result.upload is not None and result.upload.deleted > 0
    objects = keys(s3)
    assert "datasets/bikes/models/keep.txt" in objects
    remote_pngs = {k.removeprefix("datasets/bikes/") for k in objects if k.endswith(".png")}
    local_pngs = {
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")
    }
    assert remote_pngs == local_pngs


def test_kms_key_encrypts_every_object_and_stays_idempotent(s3, tiny_archive, tmp_path):
    kms = boto3.client("kms")
    key = kms.create_key(Description="data")["KeyMetadata"]
    alias = f"alias/{s3.bucket}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    stage(
        str(tiny_archive[0]),
        tmp_path / "out",
        s3_uri=s3.uri,
        kms_key_id=key["KeyId"],
        progress=False,
    )
    for name in keys(s3):
        head = s3.head_object(Bucket=s3.bucket, Key=name)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key["Arn"]
    client, calls = counting_client()
    sync_dataset(tmp_path / "out", s3.uri, kms_key_id=alias, client=client, progress=False)
    assert calls["PutObject"] == 0
    other = kms.create_key(Description="rotated")["KeyMetadata"]
    report = sync_dataset(tmp_path / "out", s3.uri, kms_key_id=other["Arn"], progress=False)
    assert report.uploaded == OBJECTS
    assert (
        s3.head_object(Bucket=s3.bucket, Key="datasets/bikes/dataset_card.json")["SSEKMSKeyId"]
        == other["Arn"]
    )


def test_unknown_kms_key_fails_before_staging(s3, tiny_archive, tmp_path):
    with pytest.raises(S3StagingError, match=r"KMS key .* does not exist"):
        stage(
            str(tiny_archive[0]),
            tmp_path / "out",
            s3_uri=s3.uri,
            kms_key_id="11111111-2222-3333-4444-555555555555",
            progress=False,
        )
    assert not (tmp_path / "out").exists()


def test_missing_bucket_is_a_clear_error_and_writes_nothing(
    emulator, tiny_archive, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(
        [
            "stage",
            "--source",
            str(tiny_archive[0]),
            "--out",
            str(out),
            "--quiet",
            "--s3-uri",
            "s3://no-such-bucket/x",
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "error: BucketNotFoundError: bucket no-such-bucket does not exist"
    )
    assert not out.exists()
    with pytest.raises(BucketNotFoundError):
        sync_dataset(tmp_path, "s3://no-such-bucket/x", progress=False)


@pytest.mark.parametrize("uri", ["s3:/bucket/x", "bucket/x", "s3://", "s3:///prefix"])
def test_malformed_s3_uri(uri):
    with pytest.raises(S3StagingError, match=r"s3://|bucket"):
        parse_s3_uri(uri)


def test_interrupted_upload_leaves_no_card_and_a_rerun_completes(s3, tiny_archive, tmp_path):
    stage(str(tiny_archive[0]), tmp_path / "out", s3_uri=s3.uri, seed=1, progress=False)
    stage(str(tiny_archive[0]), tmp_path / "out", seed=2, progress=False)  # new split locally
    client, calls = counting_client()

    def fail_after_three(**_: object) -> None:
        if calls["PutObject"] > 3:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1")

    client.meta.events.register("before-call.s3.PutObject", fail_after_three)
    with pytest.raises(S3StagingError, match="failed"):
        sync_dataset(tmp_path / "out", s3.uri, client=client, workers=1, progress=False)
    assert "datasets/bikes/dataset_card.json" not in keys(s3)
    report = sync_dataset(tmp_path / "out", s3.uri, progress=False)
    assert report.deleted > 0 and "datasets/bikes/dataset_card.json" in keys(s3)
    card = s3.get_object(Bucket=s3.bucket, Key="datasets/bikes/dataset_card.json")["Body"].read()
    assert card == (tmp_path / "out" / "dataset_card.json").read_bytes()
