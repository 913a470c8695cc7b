import boto3
import pytest

from devkit import emulator as emulator_module


@pytest.mark.integration
def test_emulator_serves_s3_on_loopback(aws):
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="k", Body=b"v")
    assert s3.get_object(Bucket="probe", Key="k")["Body"].read() == b"v"


@pytest.mark.integration
def test_reset_drops_resources(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gone")
    aws.reset()
    assert s3.list_buckets()["Buckets"] == []


def test_aws_env_uses_dummy_credentials_only():
    env = emulator_module.aws_env("http://127.0.0.1:1234")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1234"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] != ""
