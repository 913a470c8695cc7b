"""The deployed workflow's fixtures (tests/stepfunctions/deployed.py)."""

from tests.stepfunctions.deployed import deploy_workflow, lambda_zips, workflow

__all__ = ["deploy_workflow", "lambda_zips", "workflow"]
