"""The emulator glue of the inference workflow: each gap is still there upstream, and each
patch does its job. The `*_upstream_*` tests run plain moto (no patches) in a child process and
FAIL once moto closes the gap: then delete the patch."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import boto3
import pytest

from devkit.moto_patches import (
    lambda_inprocess,
    sagemaker_runtime,
    stepfunctions_sfn_integration,
    stepfunctions_sync_execution,
)
from devkit.stepfunctions_local import sync_client, wait_for_execution

ROLE_ARN = "arn:aws:iam::123456789012:role/r"
PREAMBLE = """
import io, json, zipfile, boto3
from moto import mock_aws
ROLE = "arn:aws:iam::123456789012:role/r"
def role():
    boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}))
"""


def run_plain_moto(code: str) -> dict:
    """Run `code` with unpatched moto in-process (mock_aws) in a child; it prints one JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "MOTO"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    completed = subprocess.run(
        [sys.executable, "-c", PREAMBLE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def handler_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", source)
    return buffer.getvalue()


def test_lambda_simple_backend_upstream_still_ignores_the_code():
    result = run_plain_moto(
        """
        with mock_aws(config={"lambda": {"use_docker": False}}):
            role()
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                source = "def handler(event, context):\\n    return {'ran': True}\\n"
                archive.writestr("probe.py", source)
            lam = boto3.client("lambda", region_name="us-east-1")
            lam.create_function(FunctionName="probe", Runtime="python3.13", Role=ROLE,
                                Handler="probe.handler", Code={"ZipFile": buffer.getvalue()})
            answer = lam.invoke(FunctionName="probe", Payload=b'{"x": 1}')["Payload"].read()
            print(json.dumps({"answer": answer.decode()}))
        """
    )
    assert result["answer"] != '{"ran": true}', "moto runs Lambda code now: drop lambda_inprocess"
    assert lambda_inprocess.moto_still_ignores_code()


def test_sagemaker_runtime_upstream_still_rejects_binary_bodies():
    result = run_plain_moto(
        """
        from botocore.exceptions import ClientError
        with mock_aws():
            runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
            try:
                runtime.invoke_endpoint(
                    EndpointName="e", Body=b"\\x89PNG\\xff", ContentType="image/png"
                )
                print(json.dumps({"failed": False}))
            except (ClientError, UnicodeDecodeError) as error:
                print(json.dumps({"failed": True, "error": type(error).__name__}))
        """
    )
    assert result["failed"], "moto accepts binary InvokeEndpoint bodies now: drop that part"


def test_result_writer_upstream_still_drops_results():
    result = run_plain_moto(
        """
        import time
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="items")
            s3.put_object(Bucket="items", Key="p/a", Body=b"x")
            definition = {"StartAt": "M", "States": {"M": {
                "Type": "Map", "End": True,
                "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                               "Parameters": {"Bucket": "items", "Prefix": "p/"}},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                      "ExecutionType": "STANDARD"},
                                  "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                 "Parameters": {"Bucket": "items", "Prefix": "out"}}}}}
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            arn = sfn.create_state_machine(name="m", definition=json.dumps(definition),
                                           roleArn=ROLE)["stateMachineArn"]
            run = sfn.start_execution(stateMachineArn=arn, name="e")["executionArn"]
            while sfn.describe_execution(executionArn=run)["status"] == "RUNNING":
                time.sleep(0.1)
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="items", Prefix="out/")["Contents"]]
            print(json.dumps({"keys": keys}))
        """
    )
    assert len(result["keys"]) == 1 and result["keys"][0].endswith("manifest.json"), (
        "moto's ResultWriter writes result files now: drop stepfunctions_result_writer"
    )


START_CHILD = """
    import time
    child = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    child_arn = sfn.create_state_machine(name="child", definition=json.dumps(child),
                                         roleArn=ROLE)["stateMachineArn"]
    parent = {"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child_arn, "Name": "c1", "Input": {"x": 1}},
        "OutputPath": "$.Output", "End": True}}}
    arn = sfn.create_state_machine(name="parent", definition=json.dumps(parent),
                                   roleArn=ROLE)["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=arn, name="e")["executionArn"]
    while sfn.describe_execution(executionArn=run)["status"] == "RUNNING":
        time.sleep(0.1)
    described = sfn.describe_execution(executionArn=run)
"""


def test_start_execution_task_upstream_still_passes_asl_field_names_to_boto():
    result = run_plain_moto(
        "with mock_aws(config={'stepfunctions': {'execute_state_machine': True}}):\n"
        + textwrap.indent(textwrap.dedent(START_CHILD), "    ")
        + "    print(json.dumps({'status': described['status']}))\n"
    )
    assert result["status"] == "FAILED", (
        "moto maps startExecution's fields now: drop stepfunctions_sfn_integration"
    )
    assert stepfunctions_sfn_integration.moto_still_skips_normalisation()


@pytest.mark.integration
def test_patched_start_execution_task_waits_for_the_child_output(aws):
    sfn = boto3.client("stepfunctions")
    child = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}
    child_arn = sfn.create_state_machine(
        name="child", definition=json.dumps(child), roleArn=ROLE_ARN
    )["stateMachineArn"]
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child_arn, "Name": "c1", "Input": {"x": 1}},
        "OutputPath": "$.Output",
        "End": True,
    }
    parent = {"StartAt": "S", "States": {"S": task}}
    arn = sfn.create_state_machine(name="parent", definition=json.dumps(parent), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    run = sfn.start_execution(stateMachineArn=arn, name="e")["executionArn"]
    described = wait_for_execution(sfn, run, timeout_s=60)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"ok": 1}
    [started] = sfn.list_executions(stateMachineArn=child_arn)["executions"]
    assert started["name"] == "c1"


def test_start_sync_execution_upstream_still_missing():
    result = run_plain_moto(
        """
        from moto.stepfunctions.responses import StepFunctionResponse
        print(json.dumps({"has": hasattr(StepFunctionResponse, "start_sync_execution")}))
        """
    )
    assert result == {"has": False}, (
        "moto has StartSyncExecution: drop stepfunctions_sync_execution"
    )
    assert stepfunctions_sync_execution.moto_lacks_start_sync_execution()


@pytest.mark.integration
def test_patched_start_sync_execution_answers_with_the_outcome_and_only_for_express(aws):
    sfn, sync = boto3.client("stepfunctions"), sync_client()
    machine = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"got.$": "$.x"}, "End": True}},
    }
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "c"}}}
    arns = {
        name: sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE_ARN, type=kind
        )["stateMachineArn"]
        for name, definition, kind in (
            ("express", machine, "EXPRESS"),
            ("express-fails", failing, "EXPRESS"),
            ("standard", machine, "STANDARD"),
        )
    }
    answered = sync.start_sync_execution(stateMachineArn=arns["express"], input='{"x": 7}')
    assert answered["status"] == "SUCCEEDED"
    assert json.loads(answered["output"]) == {"got": 7}
    assert answered["stateMachineArn"] == arns["express"]
    assert answered["stopDate"] >= answered["startDate"]
    failed = sync.start_sync_execution(stateMachineArn=arns["express-fails"])
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Nope", "c")
    with pytest.raises(sync.exceptions.StateMachineTypeNotSupported):
        sync.start_sync_execution(stateMachineArn=arns["standard"], input="{}")


@pytest.mark.integration
def test_patched_lambda_runs_the_handler_and_reports_errors_like_lambda(aws):
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(
        RoleName="probe",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    source = (
        "import os\n"
        "class Nope(Exception):\n    pass\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n        raise Nope('asked to fail')\n"
        "    setting = os.environ['SETTING']\n"
        "    return {'echo': event, 'setting': setting, 'fn': context.function_name}\n"
    )
    lam.create_function(
        FunctionName="probe",
        Runtime="python3.13",
        Role=role,
        Handler="probe.handler",
        Code={"ZipFile": handler_zip(source)},
        Environment={"Variables": {"SETTING": "from-config"}},
    )
    ok = lam.invoke(FunctionName="probe", Payload=json.dumps({"x": 1}))
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {
        "echo": {"x": 1},
        "setting": "from-config",
        "fn": "probe",
    }
    failed = lam.invoke(FunctionName="probe", Payload=json.dumps({"fail": True}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("Nope", "asked to fail")


@pytest.mark.integration
def test_injected_endpoint_faults_then_canned_answers(aws):
    runtime = boto3.client(
        "sagemaker-runtime",
        config=__import__("botocore.config").config.Config(retries={"total_max_attempts": 1}),
    )
    sagemaker_runtime.inject_fault("ep-probe", 429, "ThrottlingException", times=1)
    aws.set_sagemaker_results([{"Body": "[0.5, 0.5]", "ContentType": "application/json"}])
    with pytest.raises(runtime.exceptions.ClientError) as raised:
        runtime.invoke_endpoint(
            EndpointName="ep-probe", Body=b"\x89PNG\xff", ContentType="image/png"
        )
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    answer = runtime.invoke_endpoint(
        EndpointName="ep-probe", Body=b"\x89PNG\xff", ContentType="image/png"
    )
    assert answer["Body"].read() == b"[0.5, 0.5]"
    sagemaker_runtime.clear_faults()
