"""Gaps: moto's SageMaker drops a model's EnableNetworkIsolation, invents an empty VpcConfig,
drops an endpoint's DeploymentConfig and has no UpdateEndpoint.

DescribeModel always answers `EnableNetworkIsolation: false` and `VpcConfig: {}` whatever the
CreateModel request said. Both attributes force a new model in the AWS provider, so every plan of
a network-isolated model without a VPC (ours) would show a replacement and the stack would never
converge. This keeps what CreateModel was given: the isolation flag, and no VpcConfig when none
was sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

MARKER = "_vehicle_classifier_terraform_patch"


def upstream_gap() -> bool:
    """True while moto's Model ignores EnableNetworkIsolation (it hard-codes False)."""
    from moto.sagemaker.models import Model

    init = getattr(Model.__init__, "__wrapped__", Model.__init__)
    source = inspect.getsource(init)
    return "enable_network_isolation" not in inspect.signature(init).parameters and (
        "self.enable_network_isolation = False" in source
    )


def apply() -> None:
    apply_model_patch()
    apply_endpoint_patch()


def apply_model_patch() -> None:
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse.create_model, MARKER, False) or not upstream_gap():
        return

    def keep_settings(self: Any) -> None:
        model = self.sagemaker_backend._models[self._get_param("ModelName")]
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        if not self._get_param("VpcConfig"):
            model.vpc_config = None  # left out of DescribeModel like AWS does

    _run_after(SageMakerResponse, "create_model", keep_settings)


def _run_after(response: type, action: str, keep: Callable[[Any], None]) -> None:
    """Patch `response.action` to run `keep(self)` after moto's own handling (marked as ours)."""
    original = getattr(response, action)

    def patched(self: Any) -> Any:
        result = original(self)
        keep(self)
        return result

    setattr(patched, MARKER, True)
    setattr(response, action, patched)


def endpoint_gaps() -> list[str]:
    """What moto's endpoints still lack: DeploymentConfig is dropped, UpdateEndpoint is missing."""
    from moto.sagemaker.models import FakeEndpoint
    from moto.sagemaker.responses import SageMakerResponse

    gaps = []
    if "deployment_config" not in inspect.signature(FakeEndpoint.__init__).parameters:
        gaps.append("DeploymentConfig")
    update = getattr(SageMakerResponse, "update_endpoint", None)
    if update is None or getattr(update, MARKER, False):
        gaps.append("UpdateEndpoint")
    return gaps


def apply_endpoint_patch() -> None:
    """Keep an endpoint's DeploymentConfig and let UpdateEndpoint switch its config (a promotion).

    The provider sends blue/green `DeploymentConfig` and reads back `LastDeploymentConfig`;
    dropped, every plan replaces the endpoint. A new endpoint config (every promotion) is
    applied with UpdateEndpoint.
    """
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse.create_endpoint, MARKER, False) or not endpoint_gaps():
        return

    def keep_deployment_config(self: Any) -> None:
        endpoint = self.sagemaker_backend.endpoints[self._get_param("EndpointName")]
        endpoint.last_deployment_config = self._get_param("DeploymentConfig")

    def update_endpoint(self: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        backend.describe_endpoint(name)  # ValidationError for an unknown endpoint, like AWS
        config_name = self._get_param("EndpointConfigName")
        config = backend.describe_endpoint_config(config_name)  # same for an unknown config
        endpoint = backend.endpoints[name]
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config["ProductionVariants"]
        )
        endpoint.data_capture_config = config.get("DataCaptureConfig")
        endpoint.last_deployment_config = self._get_param("DeploymentConfig")
        return ActionResult({"EndpointArn": endpoint.arn})

    setattr(update_endpoint, MARKER, True)
    if "UpdateEndpoint" in endpoint_gaps():
        SageMakerResponse.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    _run_after(SageMakerResponse, "create_endpoint", keep_deployment_config)
