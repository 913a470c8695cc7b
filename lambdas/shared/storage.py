"""Bounded reads of image objects from S3, with S3 errors mapped to the workflow's error names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from lambdas.shared.aws import error_code, http_status
from lambdas.shared.errors import ImageNotFound, InvalidEvent, InvalidImage, StorageUnavailable

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "NotFound", "AccessDenied"}
_CHANGED = {"PreconditionFailed", "412"}


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str
    version_id: str | None


def read_object(
    s3: Any,
    bucket: str,
    key: str,
    max_bytes: int,
    *,
    version_id: str | None = None,
    etag: str | None = None,
) -> StoredObject:
    """GetObject, refusing to download more than `max_bytes`.

    `version_id` (versioned buckets) or `etag` (If-Match) pin the exact bytes that were validated
    upstream, so an object overwritten between two steps is never classified unchecked.
    """
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    elif etag:
        params["IfMatch"] = etag
    try:
        response = s3.get_object(**params)
        length = int(response.get("ContentLength", 0))
        if length > max_bytes:
            response["Body"].close()
            raise InvalidImage(f"the object has {length} bytes, above the limit of {max_bytes}")
        data = response["Body"].read(max_bytes + 1)
    except ClientError as error:
        code = error_code(error)
        if code in _NOT_FOUND:
            raise ImageNotFound(f"s3://{bucket}/{key}: {code}") from None
        if code in _CHANGED:
            raise InvalidImage(f"s3://{bucket}/{key} changed after it was validated") from None
        if code in {"InvalidBucketName", "KeyTooLongError", "InvalidArgument"}:
            raise ImageNotFound(f"s3://{bucket}/{key}: {code}") from None
        status = http_status(error)
        if status >= 500 or code in {"SlowDown", "Throttling", "RequestTimeout"}:
            raise StorageUnavailable(f"s3://{bucket}/{key}: {code}") from None
        raise ImageNotFound(f"s3://{bucket}/{key}: {code} (HTTP {status})") from None
    except ParamValidationError as error:
        raise InvalidEvent(f"s3://{bucket}/{key} is not a valid location: {error}") from None
    except BotoCoreError as error:
        raise StorageUnavailable(f"s3://{bucket}/{key}: {error}") from None
    if len(data) > max_bytes:
        raise InvalidImage(f"the object has more than {max_bytes} bytes")
    etag_value = str(response.get("ETag", ""))
    return StoredObject(data=data, etag=etag_value, version_id=response.get("VersionId"))
