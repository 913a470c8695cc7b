import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from devkit import emulator as emulator_module
from devkit import stepfunctions_local

REPO = Path(__file__).resolve().parents[2]


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


def _emulator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "devkit.emulator", *args]


def test_cli_creates_the_env_file_folder_as_on_a_fresh_clone(tmp_path: Path):
    env_file = tmp_path / ".local" / "emulator.env"  # no .local/ yet
    process = subprocess.Popen(
        _emulator_command("--env-file", str(env_file)), cwd=REPO, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not env_file.is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        text = env_file.read_text()
        assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_cli_with_a_taken_port_fails_at_once_with_one_line(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(
            _emulator_command("--port", str(port)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,  # the old behaviour: waits forever on a dead server thread
            check=False,
        )
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"error: port {port} on 127.0.0.1 is not free")
    assert completed.stderr.count("\n") == 1


def test_rendering_an_unknown_template_is_one_line_error(capsys):
    assert stepfunctions_local.main(["nonexistent.json"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: no template 'nonexistent.json'") and "classify_image.asl.json" in err
    )
