"""Gap in moto's SQS that the stack's upload buffer hits.

GetQueueAttributes returns a queue's RedrivePolicy as `json.dumps` writes it, with spaces after
`,` and `:`; SQS returns it compact. The provider compares the strings, so after every apply it
plans a "whitespace changes" update of the queue (and of every policy that reads its ARN). The
patch returns the policy compact, as SQS does.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

MARKER = "_vehicle_classifier_terraform_patch"


def redrive_whitespace_gap() -> bool:
    """True while moto writes RedrivePolicy with json.dumps' default separators."""
    from moto.sqs.models import Queue

    getter = Queue.__dict__["attributes"].fget
    source = inspect.getsource(getattr(getter, "__wrapped__", getter))
    return "json.dumps(self.redrive_policy)" in source


def apply() -> None:
    from moto.sqs.models import Queue

    getter = Queue.__dict__["attributes"].fget
    if getattr(getter, MARKER, False) or not redrive_whitespace_gap():
        return

    def attributes(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = getter(self)
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    attributes.__wrapped__ = getter  # type: ignore[attr-defined]
    setattr(attributes, MARKER, True)
    Queue.attributes = property(attributes)  # type: ignore[method-assign,assignment]
