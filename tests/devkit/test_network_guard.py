import socket

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from tests.network_guard import RealNetworkBlocked


def test_connection_outside_loopback_is_refused():
    with socket.socket() as sock, pytest.raises(RealNetworkBlocked):
        sock.connect(("52.216.0.1", 443))  # an S3 address


def test_client_without_emulator_never_reaches_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = boto3.client("s3", region_name="us-east-1")
    # Either DNS fails offline or the guard refuses the address: never an answer from AWS
    # (which, to the dummy credentials, would be a ClientError such as InvalidAccessKeyId).
    with pytest.raises((EndpointConnectionError, RealNetworkBlocked)):
        client.list_buckets()
