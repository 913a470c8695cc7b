"""The main job: the whole system on one machine, against the embedded AWS emulator.

`./scripts/demo.sh` runs it. Steps: start the emulator, apply the `local` Terraform stage, stage
the data into the stage's bucket, train, evaluate and release a model with its drift baseline
(a second apply deploys both), run the real state machine on sample images, produce captured
traffic and run the drift job, inject drift and show the drift metrics crossing their alarm
thresholds, show where the pictures are, and tear the stack down. Each step is a small function
of the shared `DemoContext` (devkit/demo_context.py; the steps after staging live in
devkit/demo_steps.py).

Offline it stages a generated CIFAR-100-format archive; with `--source` or a reachable (or
cached) official archive it stages real CIFAR-100 images.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3

from contract.cli import CliParser
from devkit import demo_steps
from devkit import emulator as emulator_module
from devkit.demo_context import DemoContext
from devkit.local_stage import LocalStage, LocalStageError
from training.data.errors import DataStagingError
from training.data.sources import (
    CIFAR100_FILENAME,
    CIFAR100_MD5,
    CIFAR100_SOURCE_NAME,
    CIFAR100_URL,
    file_digests,
    is_reachable,
)
from training.data.stage import DEFAULT_CACHE_DIR, stage
from training.data.synthetic import write_cifar100_archive

DEFAULT_OUT = Path("out/demo")
DATA_BUCKET = "vehicle-classifier-local-data"
DATA_KEY_ALIAS = "alias/vehicle-classifier-local-data"
DATASET_PREFIX = "datasets/cifar100-bikes"
REACHABLE_TIMEOUT_S = 3.0


def start_emulator(ctx: DemoContext) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    ctx.emulator = emulator_module.start()
    os.environ.update(ctx.emulator.env())
    print(f"      emulator on {ctx.emulator.endpoint_url} (dummy credentials)")


def create_data_bucket(ctx: DemoContext) -> None:
    """A KMS key and a private, versioned bucket encrypted with it by default.

    The TLS-only bucket policy is left out here: the emulator speaks plain HTTP on loopback.
    Real buckets are created by Terraform (terraform/modules/storage).
    """
    kms = boto3.client("kms")
    key = kms.create_key(Description="local data bucket key")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName=DATA_KEY_ALIAS, TargetKeyId=key["KeyId"])
    ctx.kms_key_arn = key["Arn"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ctx.bucket)
    s3.put_public_access_block(
        Bucket=ctx.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=ctx.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=ctx.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": ctx.kms_key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    print(f"      bucket s3://{ctx.bucket} (SSE-KMS {ctx.kms_key_arn})")


def choose_source(ctx: DemoContext) -> None:
    args = ctx.args
    cached = args.cache_dir / CIFAR100_FILENAME
    if args.source:
        ctx.source, ctx.source_note = args.source, "given with --source"
    elif cached.is_file() and file_digests(cached)["md5"] == CIFAR100_MD5:
        ctx.source, ctx.source_note = CIFAR100_SOURCE_NAME, f"official CIFAR-100, cached {cached}"
    elif not args.offline and is_reachable(CIFAR100_URL, REACHABLE_TIMEOUT_S):
        ctx.source, ctx.source_note = (
            CIFAR100_SOURCE_NAME,
            f"official CIFAR-100 from {CIFAR100_URL}",
        )
    else:
        archive = ctx.out / "sources" / "synthetic-cifar-100-python.tar.gz"
        per_class = args.synthetic_per_class  # CIFAR-100 has 500 train + 100 test per class
        write_cifar100_archive(
            archive,
            train_per_class=per_class,
            test_per_class=max(per_class // 5, 2),
            other_train_per_class=5,
            seed=0,
        )
        ctx.source = str(archive)
        ctx.source_note = (
            "offline: a generated CIFAR-100-format archive (synthetic bicycles/motorcycles); "
            "pass --source for real data"
        )
    print(f"      source: {ctx.source_note}")


def stage_data(ctx: DemoContext) -> None:
    ctx.staged = stage(
        ctx.source,
        ctx.out / "data",
        s3_uri=ctx.dataset_uri,
        kms_key_id=ctx.kms_key_arn,
        seed=ctx.args.seed,
        cache_dir=ctx.args.cache_dir,
        progress=not ctx.args.quiet,
    )
    upload = ctx.staged.upload
    assert upload is not None
    print(
        f"      {ctx.out / 'data'} -> {ctx.dataset_uri} "
        f"(uploaded {upload.uploaded}, unchanged {upload.skipped}, deleted {upload.deleted})"
    )


def print_summary(ctx: DemoContext) -> None:
    assert ctx.staged is not None and ctx.staged.upload is not None
    card = ctx.staged.card
    ctx.summary.update(
        {
            "source": ctx.source_note,
            "local_dataset": str(ctx.out / "data"),
            "dataset_uri": ctx.dataset_uri,
            "channels": ctx.staged.upload.channels(),
            "kms_key_arn": ctx.kms_key_arn,
            "counts": {split: info["per_label"] for split, info in card["splits"].items()},
            "content_sha256": card["content_sha256"],
        }
    )
    (ctx.out / "summary.json").write_text(json.dumps(ctx.summary, indent=2) + "\n")
    for split, per_label in ctx.summary["counts"].items():
        counts = ", ".join(f"{label} {count}" for label, count in per_label.items())
        print(f"      {split:<10} {counts}")
    for channel, uri in ctx.summary["channels"].items():
        print(f"      channel {channel:<15} {uri}")
    print(f"      summary written to {ctx.out / 'summary.json'}")


Step = tuple[str, Callable[[DemoContext], None]]
STEPS: list[Step] = [
    ("start the AWS emulator", start_emulator),
    ("apply the local Terraform stage", demo_steps.apply_stage),
    ("choose the data source", choose_source),
    ("stage the data to S3", stage_data),
    ("summary of the staged data", print_summary),
    ("train the model on CPU", demo_steps.train_model),
    ("evaluate the model", demo_steps.evaluate_model),
    ("release the model with its drift baseline, deploy it", demo_steps.promote_model),
    ("run the state machine on sample images", demo_steps.run_workflow),
    ("captured traffic, drift job, injected drift, alarms", demo_steps.drift_monitoring),
    ("pictures and summary", demo_steps.show_results),
    ("tear down (terraform destroy)", demo_steps.teardown),
]
# Only data staging: the first version of the job, kept for quick checks (`--data-only`).
DATA_STEPS: list[Step] = [
    ("start the AWS emulator", start_emulator),
    ("create the KMS key and the data bucket", create_data_bucket),
    ("choose the data source", choose_source),
    ("stage the data to S3", stage_data),
    ("summary", print_summary),
]


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m devkit.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="local output directory")
    parser.add_argument("--source", help="data source for `training.data stage` (default: auto)")
    parser.add_argument("--offline", action="store_true", help="never try the download")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--synthetic-per-class",
        type=int,
        default=500,
        help="offline: generated train images per class (test gets a fifth)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        default=0,
        help="from-scratch ResNets beside the pretrained member (default 0: it alone, the "
        "training default)",
    )
    parser.add_argument(
        "--epochs", type=int, default=8, help="the from-scratch ResNets' epochs (default 8)"
    )
    parser.add_argument(
        "--workflow-images", type=int, default=3, help="sample images per class for the workflow"
    )
    parser.add_argument(
        "--drift-records", type=int, default=200, help="endpoint calls per monitoring window"
    )
    parser.add_argument(
        "--drift-scenario",
        default="darken",
        help="drift to inject (see python -m devkit.inject --help)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack up (Ctrl-C ends)")
    parser.add_argument(
        "--data-only", action="store_true", help="only stage data into a bucket (quick check)"
    )
    return parser


def run(ctx: DemoContext, steps: list[Step]) -> None:
    for number, (title, action) in enumerate(steps, start=1):
        print(f"[{number}/{len(steps)}] {title}", flush=True)
        started = time.perf_counter()
        action(ctx)
        ctx.summary.setdefault("seconds", {})[title] = round(time.perf_counter() - started, 2)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = DemoContext(args=args, out=args.out, bucket=DATA_BUCKET, dataset_prefix=DATASET_PREFIX)
    ctx.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        run(ctx, DATA_STEPS if args.data_only else STEPS)
    except (DataStagingError, LocalStageError, demo_steps.DemoError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        if ctx.stage is not None and not args.keep:
            _destroy_quietly(ctx.stage)
        return 2
    print(f"done in {time.perf_counter() - started:.1f} s")
    if args.keep and not args.data_only:
        _wait_for_interrupt()
    return 0


def _destroy_quietly(stage: LocalStage) -> None:
    try:
        stage.destroy()
    except LocalStageError as error:
        print(f"warning: teardown failed too: {error}", file=sys.stderr)


def _wait_for_interrupt() -> None:
    print("the emulator keeps serving; press Ctrl-C to stop", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
