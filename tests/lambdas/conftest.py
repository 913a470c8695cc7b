"""Every Lambda test is a cold start: fresh settings and clients."""

from __future__ import annotations

import pytest

from lambdas.classify_image import handler as classify_handler
from lambdas.filter_inferences import handler as filter_handler
from lambdas.record_label import handler as record_handler
from lambdas.serialize_image import handler as serialize_handler
from lambdas.shared import aws
from lambdas.start_workflow import handler as start_handler


@pytest.fixture(autouse=True)
def fresh_containers():
    """Each test is a cold start: settings re-read, clients re-created (new endpoint URL)."""
    modules = (serialize_handler, classify_handler, filter_handler, record_handler, start_handler)
    for module in modules:
        module.settings.cache_clear()
    aws.client.cache_clear()
    yield
    for module in modules:
        module.settings.cache_clear()
    aws.client.cache_clear()
