"""The usage counter on real executions: what each outcome's image caused, in the emulator."""

from __future__ import annotations

import pytest

from benchmarks.bench_costs import Assumptions, image_usage, outcome_weights
from benchmarks.workflow_usage import measure_paths
from tests import images

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FUNCTIONS = {"serialize_image", "classify_image", "filter_inferences", "record_label"}


def test_each_outcome_is_counted_from_its_executions(emulator):
    paths = {
        p.outcome: p
        for p in measure_paths(
            {o: images.seeded(f"usage-{o}") for o in ("Routed", "RoutedByReviewer", "Rejected")}
        )
    }
    routed, reviewed, invalid = paths["Routed"], paths["RoutedByReviewer"], paths["InvalidImage"]
    assert set(routed.lambda_invocations) == FUNCTIONS
    assert all(count == 1 for count in routed.lambda_invocations.values())
    assert routed.label_records == 1 and reviewed.label_records == 1
    assert paths["Rejected"].label_records == 1 and invalid.label_records == 0
    assert dict(invalid.lambda_invocations) == {"serialize_image": 1}
    transitions = {o: p.standard_transitions + p.express_transitions for o, p in paths.items()}
    # A review adds states (and the review machine's own) to the routed path; a refused upload
    # stops after the first task.
    assert transitions["InvalidImage"] < transitions["Routed"] < transitions["RoutedByReviewer"]
    assert routed.function_log_bytes > 0 and routed.execution_log_bytes > 0
    # The automatic path is one Express execution; only a review runs the Standard machine,
    # which writes the label record itself, so its call is no part of the Express duration.
    assert routed.express_executions == 1 and routed.standard_transitions == 0
    assert routed.express_invocations == routed.lambda_invocations
    assert reviewed.express_invocations["record_label"] == 0
    # An answered review bills two transitions (AskReviewer, ApplyAnswer); its one Lambda call
    # (record_label) routes, records and returns the outcome.
    assert reviewed.standard_transitions == paths["Rejected"].standard_transitions == 2
    assert reviewed.lambda_invocations["record_label"] == 1
    assert reviewed.lambda_invocations["filter_inferences"] == 1  # the model's decision only

    weights = outcome_weights(Assumptions())
    usage = image_usage(list(paths.values()), Assumptions(), images_per_second=0.04)
    assert usage.lambda_requests == pytest.approx(
        sum(w * sum(paths[o].lambda_invocations.values()) for o, w in weights.items())
    )
    assert usage.s3_puts == pytest.approx(
        1 + sum(w * paths[o].label_records for o, w in weights.items())
    )
