"""Gap: moto's Application Auto Scaling has no tagging API.

The AWS provider tags scalable targets (RegisterScalableTarget `Tags`) and reads them back with
ListTagsForResource after every create and refresh, so `aws_appautoscaling_target` cannot apply.
This adds TagResource, UntagResource and ListTagsForResource over an in-memory tag store keyed by
the target's ARN, fed by RegisterScalableTarget's `Tags` and dropped on deregistration.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from devkit.moto_patches import missing_actions

MARKER = "_vehicle_classifier_terraform_patch"
ACTIONS = ("tag_resource", "untag_resource", "list_tags_for_resource")
_lock = threading.Lock()
_tags: dict[str, dict[str, str]] = {}


def upstream_gaps() -> list[str]:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    return missing_actions(ApplicationAutoScalingResponse, ACTIONS, MARKER)


def apply() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse as Response

    missing = [action for action in upstream_gaps() if not hasattr(Response, action)]
    if not missing:
        return
    for action in missing:
        implementation = globals()[f"_{action}"]
        setattr(implementation, MARKER, True)
        setattr(Response, action, implementation)
    if not getattr(Response.register_scalable_target, MARKER, False):
        register, deregister = (
            Response.register_scalable_target,
            Response.deregister_scalable_target,
        )

        def register_scalable_target(self: Any) -> str:
            body = register(self)
            arn = json.loads(body)["ScalableTargetARN"]
            with _lock:
                _tags.setdefault(arn, {}).update(self._get_param("Tags") or {})
            return body

        def deregister_scalable_target(self: Any) -> str:
            namespace, resource_id = (
                self._get_param("ServiceNamespace"),
                self._get_param("ResourceId"),
            )
            dimension = self._get_param("ScalableDimension")
            for target in _targets(self):
                if (target.service_namespace, target.resource_id, target.scalable_dimension) == (
                    namespace,
                    resource_id,
                    dimension,
                ):
                    with _lock:
                        _tags.pop(target.arn, None)
            return deregister(self)

        for function in (register_scalable_target, deregister_scalable_target):
            setattr(function, MARKER, True)
        Response.register_scalable_target = register_scalable_target  # type: ignore[method-assign]
        Response.deregister_scalable_target = deregister_scalable_target  # type: ignore[method-assign]


def _targets(response: Any) -> list[Any]:
    backend = response.applicationautoscaling_backend
    return [t for by_dimension in backend.targets.values() for t in by_dimension.values()]


def _require_target(response: Any, arn: str) -> None:
    from moto.applicationautoscaling.exceptions import AWSValidationException

    if arn not in {target.arn for target in _targets(response)}:
        raise AWSValidationException(f"No scalable target found for resource {arn}")


def _tag_resource(self: Any) -> str:
    arn = self._get_param("ResourceARN")
    _require_target(self, arn)
    with _lock:
        _tags.setdefault(arn, {}).update(self._get_param("Tags") or {})
    return "{}"


def _untag_resource(self: Any) -> str:
    arn = self._get_param("ResourceARN")
    _require_target(self, arn)
    with _lock:
        for key in self._get_param("TagKeys") or []:
            _tags.get(arn, {}).pop(key, None)
    return "{}"


def _list_tags_for_resource(self: Any) -> str:
    arn = self._get_param("ResourceARN")
    _require_target(self, arn)
    with _lock:
        return json.dumps({"Tags": dict(_tags.get(arn, {}))})
