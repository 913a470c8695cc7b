import socket

import boto3
import pytest

from tests.conftest import RealNetworkBlocked


def test_connection_outside_loopback_is_refused():
    with socket.socket() as sock, pytest.raises(RealNetworkBlocked):
        sock.connect(("52.216.0.1", 443))  # an S3 address


def test_client_without_emulator_never_reaches_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(Exception) as raised:
        client.list_buckets()
    # Either DNS fails offline or our guard refuses the address: never a real answer.
    assert raised.type is not None
