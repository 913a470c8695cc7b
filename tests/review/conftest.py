"""The deployed workflow of tests/stepfunctions (the Lambdas from the built zips, the three
state machines, the review queue), for the reviewer tool's end-to-end tests."""

from tests.stepfunctions.deployed import deploy_workflow, lambda_zips, workflow

__all__ = ["deploy_workflow", "lambda_zips", "workflow"]
