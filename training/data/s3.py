"""Upload a staged dataset to S3 in the channel layout the training jobs use.

    s3://bucket/prefix/train/<label>/*.png         channel "train"
    s3://bucket/prefix/validation/<label>/*.png    channel "validation"
    s3://bucket/prefix/test/<label>/*.png          channel "test"
    s3://bucket/prefix/train_lst/train.lst         channel "train_lst"
    s3://bucket/prefix/validation_lst/validation.lst  channel "validation_lst"
    s3://bucket/prefix/test_lst/test.lst           (batch transform / evaluation)
    s3://bucket/prefix/manifests/<split>.jsonl     channel "manifests" (augmented manifests)
    s3://bucket/prefix/dataset_card.json           uploaded last: its presence means complete

Idempotent: each object carries its SHA-256 in metadata (`x-amz-meta-sha256`) and is skipped
when the stored object has the same content and encryption. Objects under the channel prefixes
that are not part of this dataset are deleted, so a re-split cannot leave stale images behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from training.data.errors import BucketNotFoundError, S3StagingError
from training.data.write import CARD_NAME, MANIFEST_DIR

CHANNEL_PREFIXES = (
    "train/",
    "validation/",
    "test/",
    "train_lst/",
    "validation_lst/",
    "test_lst/",
    f"{MANIFEST_DIR}/",
)
CONTENT_TYPES = {
    ".png": "image/png",
    ".lst": "text/plain",
    ".jsonl": "application/jsonlines",
    ".json": "application/json",
}
DEFAULT_WORKERS = 16
T = TypeVar("T")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # no leading/trailing slash; may be empty

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative


@dataclass(frozen=True)
class UploadReport:
    uploaded: int
    skipped: int
    deleted: int
    location: S3Location

    def channels(self) -> dict[str, str]:
        """SageMaker channel name -> S3 URI."""
        names = ("train", "validation", "test", "train_lst", "validation_lst", "manifests")
        return {name: f"{self.location.uri}/{name}/" for name in names}


def parse_s3_uri(uri: str) -> S3Location:
    if not uri.startswith("s3://"):
        raise S3StagingError(f"{uri!r} is not an s3://bucket/prefix URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket or "/" in bucket or bucket != bucket.strip():
        raise S3StagingError(f"{uri!r} has no valid bucket name")
    return S3Location(bucket=bucket, prefix=prefix.strip("/"))


def s3_key_for(relative: str) -> str:
    """S3 key (below the prefix) of a file relative to the staged output directory."""
    if relative.endswith(".lst") and "/" not in relative:
        split = relative.removesuffix(".lst")
        return f"{split}_lst/{relative}"
    return relative


def make_client(workers: int = DEFAULT_WORKERS) -> Any:
    """One S3 client shared by all upload threads (botocore clients are thread-safe)."""
    config = Config(max_pool_connections=workers, retries={"max_attempts": 8, "mode": "adaptive"})
    return boto3.client("s3", config=config)


def check_bucket(client: Any, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise BucketNotFoundError(f"bucket {bucket} does not exist") from error
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise S3StagingError(f"access to bucket {bucket} is denied") from error
        raise S3StagingError(f"cannot use bucket {bucket}: {error}") from error
    except BotoCoreError as error:
        raise S3StagingError(f"cannot reach S3 for bucket {bucket}: {error}") from error


def resolve_kms_key(kms_key_id: str) -> str:
    """The key's ARN (S3 reports ARNs), failing clearly when the key does not exist."""
    try:
        metadata = boto3.client("kms").describe_key(KeyId=kms_key_id)["KeyMetadata"]
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "NotFoundException":
            raise S3StagingError(f"KMS key {kms_key_id} does not exist") from error
        # Without kms:DescribeKey we still encrypt with the key as given.
        return kms_key_id
    except BotoCoreError as error:
        raise S3StagingError(f"cannot reach KMS for key {kms_key_id}: {error}") from error
    return str(metadata["Arn"])


def _local_files(out: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            files[s3_key_for(path.relative_to(out).as_posix())] = path
    return files


def _existing_objects(client: Any, location: S3Location) -> dict[str, str]:
    """Key (below the prefix) -> ETag of every object under the channel prefixes and card."""
    found: dict[str, str] = {}
    paginator = client.get_paginator("list_objects_v2")
    for channel in (*CHANNEL_PREFIXES, CARD_NAME):
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key(channel)):
            for item in page.get("Contents", []):
                relative = item["Key"][len(location.key("")) :]
                if channel != CARD_NAME or relative == CARD_NAME:
                    found[relative] = str(item.get("ETag", "")).strip('"')
    return found


def _is_current(
    client: Any,
    location: S3Location,
    relative: str,
    etag: str,
    body: bytes,
    *,
    kms_arn: str | None,
) -> bool:
    if kms_arn is None and etag == hashlib.md5(body).hexdigest():  # noqa: S324 - S3 ETag
        return True
    head = client.head_object(Bucket=location.bucket, Key=location.key(relative))
    if head.get("Metadata", {}).get("sha256") != hashlib.sha256(body).hexdigest():
        return False
    if kms_arn is None:
        return True
    stored = str(head.get("SSEKMSKeyId", ""))
    return head.get("ServerSideEncryption") == "aws:kms" and (
        stored == kms_arn or kms_arn.endswith(f"/{stored}") or stored.endswith(f"/{kms_arn}")
    )


def sync_dataset(
    out: Path,
    s3_uri: str,
    *,
    kms_key_id: str | None = None,
    client: Any = None,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> UploadReport:
    """Make `s3_uri` hold exactly the staged dataset in `out`; upload only what changed."""
    location = parse_s3_uri(s3_uri)
    client = client or make_client(workers)
    check_bucket(client, location.bucket)
    kms_arn = resolve_kms_key(kms_key_id) if kms_key_id else None
    files = _local_files(out)
    if CARD_NAME not in files:
        raise S3StagingError(f"{out} is not a staged dataset (no {CARD_NAME})")
    try:
        existing = _existing_objects(client, location)

        def needs_upload(relative: str) -> bool:
            etag = existing.get(relative)
            body = files[relative].read_bytes()
            return etag is None or not _is_current(
                client, location, relative, etag, body, kms_arn=kms_arn
            )

        def put(relative: str) -> None:
            body = files[relative].read_bytes()
            extra: dict[str, Any] = {}
            if kms_arn:
                extra = {
                    "ServerSideEncryption": "aws:kms",
                    "SSEKMSKeyId": kms_arn,
                    "BucketKeyEnabled": True,
                }
            client.put_object(
                Bucket=location.bucket,
                Key=location.key(relative),
                Body=body,
                ContentType=CONTENT_TYPES.get(Path(relative).suffix, "binary/octet-stream"),
                Metadata={"sha256": hashlib.sha256(body).hexdigest()},
                **extra,
            )

        changed = _run_all(needs_upload, list(files), workers, progress, f"check {location.uri}")
        to_upload = sorted(key for key, needed in changed.items() if needed)
        stale = sorted(set(existing) - set(files))
        if to_upload or stale:
            # The card is the commit marker: remove it while the data changes, put it back last,
            # so a reader never trusts a card that describes objects being replaced.
            if CARD_NAME in existing:
                client.delete_object(Bucket=location.bucket, Key=location.key(CARD_NAME))
            data_keys = [key for key in to_upload if key != CARD_NAME]
            _run_all(put, data_keys, workers, progress, f"upload {location.uri}")
            _delete(client, location, stale)
            put(CARD_NAME)
    except ClientError as error:
        raise S3StagingError(f"S3 upload to {location.uri} failed: {error}") from error
    except BotoCoreError as error:
        raise S3StagingError(f"S3 upload to {location.uri} failed: {error}") from error
    uploaded = len([k for k in to_upload if k != CARD_NAME]) + int(bool(to_upload or stale))
    return UploadReport(
        uploaded=uploaded,
        skipped=len(files) - uploaded,
        deleted=len(stale),
        location=location,
    )


def _run_all(
    task: Callable[[str], T], keys: list[str], workers: int, progress: bool, desc: str
) -> dict[str, T]:
    """Run `task` on every key in a thread pool; the first failure cancels the rest."""
    results: dict[str, T] = {}
    if not keys:
        return results
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(keys), desc=desc, unit="obj", disable=not progress, leave=False) as bar,
    ):
        futures = {pool.submit(task, key): key for key in keys}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def _delete(client: Any, location: S3Location, relatives: list[str]) -> None:
    for start in range(0, len(relatives), 1000):
        batch = relatives[start : start + 1000]
        response = client.delete_objects(
            Bucket=location.bucket,
            Delete={"Objects": [{"Key": location.key(r)} for r in batch], "Quiet": True},
        )
        if response.get("Errors"):
            raise S3StagingError(f"could not delete stale objects: {response['Errors'][:3]}")
