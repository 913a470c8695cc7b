"""Gaps in moto's S3 that the stack's buckets hit.

1. TLS-only bucket policies. Every bucket denies `s3:*` when `aws:SecureTransport` is false.
   moto evaluates bucket policies without request context, and a statement whose condition
   cannot be evaluated comes out DENIED, so every object call to such a bucket gets a 403. The
   emulator is reached over loopback HTTP standing in for AWS's HTTPS endpoints, so its requests
   count as secure transport: the patch evaluates the Bool/StringEquals conditions of bucket
   policies with `aws:SecureTransport = true` and skips statements whose conditions do not hold
   (moto ignores every operator but StringEquals, so the Deny always applied).
2. EventBridge notifications. PutBucketNotificationConfiguration keeps
   `EventBridgeConfiguration`, but GetBucketNotificationConfiguration leaves it out, so the
   provider sees `eventbridge = false` after every apply and plans a change forever.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

MARKER = "_vehicle_classifier_terraform_patch"
_TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def tls_policy_gap() -> bool:
    """True while moto denies a TLS request under a deny-insecure-transport policy."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    result = IAMPolicy(json.dumps(_TLS_ONLY)).is_action_permitted(
        "s3:GetObject", "arn:aws:s3:::bucket/key", None, {"aws:SecureTransport": "true"}
    )
    return bool(result == PermissionResult.DENIED)


def eventbridge_gap() -> bool:
    """True while GetBucketNotificationConfiguration never mentions EventBridge."""
    from moto.s3.responses import S3Response

    get = getattr(S3Response.get_bucket_notification, "__wrapped__", None)
    source = inspect.getsource(get or S3Response.get_bucket_notification)
    return "EventBridge" not in source


def apply() -> None:
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    if not getattr(FakeBucket.get_permission, MARKER, False) and tls_policy_gap():
        setattr(_get_permission, MARKER, True)
        FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]

    if not getattr(S3Response.get_bucket_notification, MARKER, False) and eventbridge_gap():
        original = S3Response.get_bucket_notification

        def get_bucket_notification(self: Any) -> Any:
            response = original(self)
            config = self.backend.get_bucket_notification_configuration(self.bucket_name)
            if config is None or config.event_bridge is None or not isinstance(response, tuple):
                return response
            status, headers, body = response
            text = body.decode() if isinstance(body, bytes) else body
            closing = "</NotificationConfiguration>"
            if "<EventBridgeConfiguration" in text:
                return response
            if closing in text:
                text = text.replace(closing, f"<EventBridgeConfiguration />{closing}")
            elif re.search(r"<NotificationConfiguration[^>]*/>", text):  # empty element
                text = re.sub(
                    r"<NotificationConfiguration([^>]*)/>",
                    rf"<NotificationConfiguration\1><EventBridgeConfiguration />{closing}",
                    text,
                )
            else:  # no body at all
                text = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<NotificationConfiguration '
                    'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EventBridgeConfiguration />'
                    f"{closing}"
                )
            return status, headers, text

        get_bucket_notification.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(get_bucket_notification, MARKER, True)
        S3Response.get_bucket_notification = get_bucket_notification  # type: ignore[method-assign]


def _conditions_hold(conditions: dict[str, dict[str, Any]] | None, context: dict[str, str]) -> bool:
    """Whether a statement's Bool/StringEquals conditions on keys in `context` all hold.

    moto ignores operators other than StringEquals, so `Bool aws:SecureTransport false` always
    "holds" there. Conditions on other keys are left to moto (True here).
    """
    for operator, pairs in (conditions or {}).items():
        if operator not in {"Bool", "StringEquals"}:
            continue
        for key, expected in pairs.items():
            if key not in context:
                continue
            wanted = [expected] if isinstance(expected, str) else list(expected)
            if str(context[key]).lower() not in [str(value).lower() for value in wanted]:
                return False
    return True


def _get_permission(self: Any, action: str, resource: str) -> Any:
    """FakeBucket.get_permission, skipping statements whose conditions do not hold."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode())
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    context = {"aws:SecureTransport": "true"}
    permitted = False
    for statement in statements:
        if not _conditions_hold(statement.get("Condition"), context):
            continue  # the statement does not apply to this request
        result = IAMPolicyStatement(statement).is_action_permitted(action, resource, None, context)
        if result == PermissionResult.DENIED:
            return result
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL
