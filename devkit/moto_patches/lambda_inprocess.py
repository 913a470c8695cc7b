"""Gap: moto's Lambda backend without Docker never runs function code.

With `{"lambda": {"use_docker": false}}` moto's simple backend answers every Invoke with a queued
canned result (or the request body), so a Step Functions execution in the emulator would never
run our handlers. This patch makes that backend run Python functions for real: it unzips the
deployed package and its layers (as Lambda does into /var/task and /opt), imports the configured
`Handler` and calls it with the event and a context, with the function's environment variables,
and reports the result or an error payload `{"errorType", "errorMessage", "stackTrace"}` with
the `X-Amz-Function-Error` header, exactly the way Lambda reports function errors.

The handler runs in a child Python process of the emulator per invocation (a cold start each
time). In the emulator's own process the functions would share one `os.environ` and one module
namespace (three handlers all live in the `lambdas` package), which real Lambda never does. The
child is started with `-S` so the project's editable install is invisible: only the zips'
contents (and the interpreter's site-packages, standing in for the runtime's boto3 and the public
Powertools layer) can be imported, which also catches packaging mistakes.

Queued results (`/moto-api/static/lambda-simple/response`) still win when any are queued, and
non-Python runtimes, image packages and functions without code keep moto's behaviour.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import inspect
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import uuid
import zipfile
from pathlib import Path
from typing import Any

MARKER = "_runs_python_handlers"
_lock = threading.Lock()
_cache_dir: Path | None = None
_original_invoke: Any = None

# Runs inside the child: read the event on stdin, call the handler, write the result file.
_BOOTSTRAP = r"""
import importlib, json, os, sys, time, traceback
start = time.monotonic()
event = json.load(sys.stdin)
module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    invoked_function_arn = os.environ["_INVOKED_FUNCTION_ARN"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    aws_request_id = os.environ["_REQUEST_ID"]
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "emulator"
    def get_remaining_time_in_millis(self):
        budget = float(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"]) * 1000
        return max(0, int(budget - (time.monotonic() - start) * 1000))

def failure(error, error_type=None):
    return {"errorMessage": str(error), "errorType": error_type or type(error).__name__,
            "requestId": Context.aws_request_id,
            "stackTrace": traceback.format_tb(error.__traceback__)}

error = True
try:
    module = importlib.import_module(module_name.replace("/", "."))
except Exception as exc:
    payload = failure(exc, "Runtime.ImportModuleError")
else:
    try:
        payload = getattr(module, function_name)(event, Context())
        error = False
    except Exception as exc:
        payload = failure(exc)
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        payload, error = failure(exc, "Runtime.MarshalError"), True
with open(os.environ["_RESULT_PATH"], "w") as result:
    json.dump({"error": error, "payload": payload}, result)
"""


def apply() -> None:
    """Replace the simple backend's invoke (idempotent; no-op once moto runs code itself)."""
    global _original_invoke
    from moto.awslambda_simple.models import LambdaSimpleBackend

    if getattr(LambdaSimpleBackend.invoke, MARKER, False):
        return
    if not moto_still_ignores_code():
        return
    _original_invoke = LambdaSimpleBackend.invoke
    setattr(_invoke, MARKER, True)
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def moto_still_ignores_code() -> bool:
    """The gap's guard: moto's simple invoke only consults its queue of canned results."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    invoke = getattr(LambdaSimpleBackend.invoke, "__wrapped__", LambdaSimpleBackend.invoke)
    source = inspect.getsource(_original_invoke or invoke)
    return "lambda_simple_results_queue" in source and "code_bytes" not in source


def original_invoke() -> Any:
    """moto's own invoke (for the test that notices when upstream closes the gap)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    return _original_invoke or LambdaSimpleBackend.invoke


def _invoke(  # noqa: PLR0917 - moto's signature
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    function = self.get_function(function_name, qualifier)
    runs_python = (
        str(function.run_time or "").startswith("python")
        and function.package_type == "Zip"
        and bool(getattr(function, "code_bytes", b""))
    )
    if self.lambda_simple_results_queue or not runs_python:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    layers = [self.layers_versions_by_arn(layer["Arn"]).code_bytes for layer in function.layers]
    payload, failed, logs = run_handler(function, layers, body)
    function.logs_backend.ensure_log_group(function.logs_group_name)
    function.save_logs(logs)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    if str(headers.get("X-Amz-Log-Type", "")).lower() == "tail":
        tail = logs.encode("utf-8")[-4096:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
    return payload


def _unpacked(code: bytes, layers: list[bytes]) -> tuple[Path, list[Path]]:
    """Unzip the function and its layers once per distinct content, like /var/task and /opt."""
    global _cache_dir
    digest = hashlib.sha256(b"".join(hashlib.sha256(part).digest() for part in [code, *layers]))
    with _lock:
        if _cache_dir is None:
            _cache_dir = Path(tempfile.mkdtemp(prefix="moto-lambda-"))
            atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
        root = _cache_dir / digest.hexdigest()[:24]
        task, opt = root / "task", root / "opt"
        if not root.exists():
            staging = Path(tempfile.mkdtemp(dir=_cache_dir))
            zipfile.ZipFile(io.BytesIO(code)).extractall(staging / "task")
            for index, layer in enumerate(layers):
                zipfile.ZipFile(io.BytesIO(layer)).extractall(staging / "opt" / str(index))
            staging.rename(root)
    layer_dirs = sorted(opt.iterdir(), key=lambda path: int(path.name)) if opt.exists() else []
    return task, [path / "python" for path in layer_dirs]


def run_handler(function: Any, layers: list[bytes], body: Any) -> tuple[bytes, bool, str]:
    """Run the function's handler on `body` in a fresh interpreter: (payload, failed, logs)."""
    from moto import settings

    task, layer_paths = _unpacked(function.code_bytes, layers)
    runtime_paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    event = body.decode("utf-8") if isinstance(body, bytes) else (body or "{}")
    request_id = str(uuid.uuid4())
    endpoint = f"http://127.0.0.1:{settings.moto_server_port()}"
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        env = {
            **{key: str(value) for key, value in function.environment_vars.items()},
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONPATH": os.pathsep.join(map(str, [task, *layer_paths, *sorted(runtime_paths)])),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(task),
            "_HANDLER": function.handler,
            "_INVOKED_FUNCTION_ARN": function.function_arn,
            "_REQUEST_ID": request_id,
            "_RESULT_PATH": str(result_path),
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        try:
            completed = subprocess.run(
                [sys.executable, "-S", "-c", _BOOTSTRAP],
                input=event.encode("utf-8"),
                capture_output=True,
                cwd=task,
                env=env,
                timeout=float(function.timeout) + 30,  # generous: the emulator's host is shared
                check=False,
            )
            logs = (completed.stdout + completed.stderr).decode("utf-8", "replace")
        except subprocess.TimeoutExpired as expired:
            logs = ((expired.stdout or b"") + (expired.stderr or b"")).decode("utf-8", "replace")
            error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}
            return json.dumps(error).encode(), True, logs
        if not result_path.exists():
            error = {"errorType": "Runtime.ExitError", "errorMessage": logs[-2000:]}
            return json.dumps(error).encode(), True, logs
        outcome = json.loads(result_path.read_text())
    return json.dumps(outcome["payload"]).encode("utf-8"), bool(outcome["error"]), logs
