"""The later steps of the local main job: deploy, train and promote, run the workflow, drift.

Each step is a function of the shared `DemoContext` (devkit/demo_context.py). They talk to the
emulator only through boto3, Terraform and the project's own commands, as a user would.
"""

from __future__ import annotations

import json
import operator
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from devkit.demo_context import DemoContext
from devkit.demo_review import Tally, label_records, run_with_reviewer
from devkit.inject import invoke_endpoint
from devkit.local_stage import DEFAULT_MODEL, STAGE_DIR, LocalStage
from monitoring import cli
from monitoring.baseline import labelled_images
from monitoring.metrics import DEFAULT_NAMESPACE
from monitoring.publish import Dimensions, metric_data
from training.evaluate import evaluate
from training.live_quality import live_quality
from training.live_quality import write_report as write_live_quality
from training.local_run import run_local
from training.promote import PromotionError, archive_threshold, build_promotion, write_promotion
from training.release import ReleaseError, release_baseline
from training.trainer import Recipe

STAGE = "local"
EXECUTION_TIMEOUT_S = 120.0
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


class DemoError(RuntimeError):
    """A step of the local run could not complete."""


def _say(text: str) -> None:
    print(f"      {text}", flush=True)


def _system(outputs: dict[str, object]) -> dict[str, Any]:
    system = outputs.get("system")
    if not isinstance(system, dict):
        raise DemoError("the local stage has no `system` output")
    return system


# -- deploy ------------------------------------------------------------------------------------


def apply_stage(ctx: DemoContext) -> None:
    """`terraform apply` of terraform/stages/local against the emulator (first: no model yet)."""
    assert ctx.emulator is not None
    ctx.stage = LocalStage(
        ctx.emulator.endpoint_url, (ctx.out / "stage").resolve(), dict(DEFAULT_MODEL)
    )
    _say("building the Lambda packages, then terraform init + apply (about a minute or two)")
    ctx.system = _system(ctx.stage.apply())
    s3 = boto3.client("s3")
    ctx.bucket = str(ctx.system["data_bucket"])
    rules = s3.get_bucket_encryption(Bucket=ctx.bucket)["ServerSideEncryptionConfiguration"]
    ctx.kms_key_arn = rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    resources = len(ctx.stage.state_resources())
    _say(f"{resources} resources in {ctx.stage.timings.get('apply', 0):.0f} s")
    for key in ("data_bucket", "capture_bucket", "endpoint_name", "review_queue_url"):
        _say(f"{key:<16} {ctx.system[key]}")


# -- train, evaluate, promote ------------------------------------------------------------------


def train_model(ctx: DemoContext) -> None:
    recipe = Recipe(epochs=ctx.args.epochs, ensemble=ctx.args.ensemble, seed=ctx.args.seed)
    model_dir = ctx.out / "model"
    members = f"the pretrained EfficientNet-Lite member ({'+'.join(recipe.backbones())})"
    if recipe.ensemble:
        members += (
            f" and {recipe.ensemble} from-scratch ResNet(s) for {recipe.epochs} epochs "
            "(--ensemble, --epochs)"
        )
    else:
        members += ", cross-fitted (--ensemble N adds from-scratch ResNets)"
    _say(f"training on CPU: {members}")
    metrics = run_local(ctx.out / "data", model_dir, recipe, progress=not ctx.args.quiet)
    ctx.archive = model_dir / "model.tar.gz"
    validation = metrics["validation"]
    _say(
        f"validation accuracy {validation['accuracy']:.3f}, ECE {validation['ece']:.3f}, "
        f"{metrics['train_seconds']} s"
    )
    ctx.summary["training"] = {"validation": validation, "archive": str(ctx.archive)}


def evaluate_model(ctx: DemoContext) -> None:
    split = ctx.out / "data" / "test"
    if not any(split.glob("*/*.png")):
        split = ctx.out / "data" / "validation"
    report = evaluate(ctx.archive, split, ctx.out / "model" / "confusion_matrix.png")
    ctx.summary["evaluation"] = {"split": split.name, **report}
    _say(f"{split.name} accuracy {report['accuracy']:.3f} on {report['count']} images")
    for name, values in report["per_class"].items():
        precision, recall = values["precision"], values["recall"]
        _say(
            f"{name:<11} precision {'n/a' if precision is None else f'{precision:.3f}'} "
            f"recall {'n/a' if recall is None else f'{recall:.3f}'}"
        )


def promote_model(ctx: DemoContext) -> None:
    """Upload the archive, release it (the threshold from the archive's decision.json, the drift
    baseline built from the staged images and published to the stage's bucket), and `terraform
    apply` again to deploy it."""
    assert ctx.stage is not None
    version = time.strftime("local-%Y%m%d-%H%M%S")
    key = f"models/{version}/model.tar.gz"
    boto3.client("s3").upload_file(
        str(ctx.archive),
        ctx.bucket,
        key,
        ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ctx.kms_key_arn},
    )
    region = ctx.emulator.region if ctx.emulator else "us-east-1"
    model_data_url = f"s3://{ctx.bucket}/{key}"
    try:
        promotion = build_promotion(
            STAGE,
            model_data_url=model_data_url,
            framework="pytorch",
            image_uri=None,
            region=region,
            version=version,
            # Streamed from the uploaded object, as `python -m training.promote` does.
            archive_threshold=archive_threshold("pytorch", model_data_url, None),
        )
        # The release step, as `python -m training.promote ... --images DIR` runs it: the
        # archive is read back from the bucket, so the digest is the served object's.
        released = release_baseline(
            STAGE_DIR,
            model_data_url=model_data_url,
            model_version=version,
            framework="pytorch",
            model_threshold=promotion.decision_threshold,
            images=ctx.out / "data",
            archive=None,
        )
    except (PromotionError, ReleaseError) as error:
        raise DemoError(f"promotion refused: {error}") from error
    promotion = replace(promotion, baseline=released)
    ctx.baseline_uri = released.baseline_s3_uri
    ctx.model_sha256 = released.model_sha256
    _say(f"drift baseline {released.baseline_s3_uri} (model {released.model_sha256[:12]})")
    # The record goes beside the run, not into terraform/stages/local (a user's promotion).
    (ctx.out / "promotion" / STAGE).mkdir(parents=True, exist_ok=True)
    record = write_promotion(promotion, ctx.out / "promotion")
    _say(f"promotion record {record}")
    ctx.stage.variables.update({key: str(value) for key, value in promotion.tfvars().items()})
    ctx.system = _system(ctx.stage.apply())
    _say(
        f"endpoint {ctx.system['endpoint_name']} now serves {promotion.model_data_url} "
        f"({ctx.stage.timings.get('apply', 0):.0f} s apply)"
    )
    outputs = ctx.stage.outputs()
    _say(
        f"decision threshold {promotion.decision_threshold} (the model's) -> filter Lambda and "
        f"drift job use {outputs.get('effective_decision_threshold')}"
    )
    # What the deployed drift job was given: the released baseline and the model's digest.
    drift_job = boto3.client("lambda").get_function_configuration(
        FunctionName=f"{ctx.system['name']}-drift-job"
    )
    drift_env = drift_job["Environment"]["Variables"]
    ctx.summary["promotion"] = {
        "model_data_url": promotion.model_data_url,
        "decision_threshold": promotion.decision_threshold,
        **released.tfvars(),
        "drift_job_environment": {k: drift_env.get(k) for k in ("BASELINE_S3_URI", "MODEL_SHA256")},
        "effective_decision_threshold": outputs.get("effective_decision_threshold"),
    }


# -- the workflow ------------------------------------------------------------------------------


def _sample_images(ctx: DemoContext, per_class: int) -> list[Path]:
    for split in ("test", "validation", "train"):
        folders = sorted((ctx.out / "data" / split).glob("*"))
        picked = [p for folder in folders for p in sorted(folder.glob("*.png"))[:per_class]]
        if picked:
            return picked
    raise DemoError("no staged images to classify")


def _describe_outcome(result: dict[str, Any], answered: str | None) -> str:
    decision = result.get("decision") or {}
    outcome = result.get("outcome", "?")
    model = (result.get("review") or {}).get("model_decision") or decision
    if outcome in {"Routed", "RoutedByReviewer", "Rejected", "ReviewTimedOut"}:
        text = (
            f"{outcome:<16} model: {model.get('label')} ({model.get('confidence', 0):.3f} vs "
            f"threshold {model.get('threshold')})"
        )
        if answered:
            text += f"; reviewer: {answered} ({result.get('review', {}).get('reason')})"
        if decision.get("action") == "route":
            text += (
                f" -> bay {decision.get('loading_bay')}, "
                f"orders within {decision.get('order_radius_km')} km"
            )
        return text
    return f"{outcome:<16} {result.get('error')}"


def run_workflow(ctx: DemoContext) -> None:
    """Upload sample images (and two bad inputs), run the real state machine on each, and act
    as the reviewer for those sent to review; then read back the label records."""
    s3, sfn, sqs = boto3.client("s3"), boto3.client("stepfunctions"), boto3.client("sqs")
    arn = str(ctx.system["state_machine_arns"]["classify_image"])
    queue = str(ctx.system["review_queue_url"])
    # (what to print, request, true class or None for no vehicle, counts toward coverage)
    requests: list[tuple[str, dict[str, Any], str | None, bool]] = []
    for path in _sample_images(ctx, ctx.args.workflow_images):
        key = f"incoming/{path.parent.name}/{path.name}"
        s3.upload_file(str(path), ctx.bucket, key)
        request = {"s3_bucket": ctx.bucket, "s3_key": key}
        requests.append((f"{path.parent.name}/{path.name}", request, path.parent.name, True))
    # A strict per-execution threshold sends a confident image to human review.
    label, first, truth, _ = requests[0]
    requests.append((f"{label} (threshold 0.9999)", dict(first, threshold=0.9999), truth, False))
    s3.put_object(Bucket=ctx.bucket, Key="incoming/not-an-image.png", Body=b"plain text")
    not_image = {"s3_bucket": ctx.bucket, "s3_key": "incoming/not-an-image.png"}
    requests.append(("not-an-image.png", not_image, None, False))
    missing = {"s3_bucket": ctx.bucket, "s3_key": "incoming/missing.png"}
    requests.append(("missing.png", missing, None, False))
    outcomes: dict[str, int] = {}
    tally = Tally()
    answered_count = 0
    for number, (label, payload, truth, counted) in enumerate(requests):
        start = {
            "stateMachineArn": arn,
            "name": f"demo-{int(time.time())}-{number}",
            "input": json.dumps(payload),
        }
        try:
            run = run_with_reviewer(
                sfn, sqs, queue, start, truth=truth, timeout_s=EXECUTION_TIMEOUT_S
            )
        except TimeoutError as error:
            raise DemoError(f"execution {start['name']} did not finish: {error}") from error
        outcome = str(run.output.get("outcome", "?"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        answered_count += run.answered is not None
        if counted and truth is not None:
            tally.add(run.output, truth)
        _say(f"{label:<42} {_describe_outcome(run.output, run.answered)}")
    records = label_records(s3, str(ctx.system["labels_uri"]))
    by_decision = {
        kind: sum(r.decision == kind for r in records) for kind in ("routed", "reviewed")
    }
    quality = tally.summary()
    _say(f"outcomes {outcomes}; the demo answered {answered_count} review(s) as reviewer")
    _say(
        f"label records under {ctx.system['labels_uri']}: {len(records)} "
        f"({by_decision['routed']} routed, {by_decision['reviewed']} reviewed)"
    )
    if quality["images"]:
        routed_accuracy = quality["routed_accuracy"]
        _say(
            f"at threshold {quality['threshold']}: coverage {quality['coverage']:.2f} "
            f"({quality['routed']}/{quality['images']} routed without review), routed accuracy "
            + ("n/a (none routed)" if routed_accuracy is None else f"{routed_accuracy:.2f}")
        )
    # What the stage's on-call and the approver of a retrained model read: live quality from
    # the label records (README "Live quality"), with its plot.
    live = live_quality(records)
    picture = write_live_quality(live, ctx.out / "quality")
    audit, share = live["overall"]["audit"], live["overall"]["automated_share"]
    _say(
        f"live quality from the label records: automated share "
        f"{'n/a' if share is None else f'{share:.2f}'}, {audit['reviewed']} audit(s), "
        f"{audit['misrouted']} misrouted: {audit['status']} "
        f"(python -m training.live_quality; {picture})"
    )
    ctx.summary["workflow"] = {
        "outcomes": outcomes,
        "reviews_answered": answered_count,
        "label_records": len(records),
        "label_records_by_decision": by_decision,
        "quality": quality,
        "live_quality": live["overall"],
    }


# -- drift -------------------------------------------------------------------------------------


def _endpoint_capture(endpoint_name: str) -> tuple[str, str]:
    """(variant name, capture destination URI) of the deployed endpoint."""
    sagemaker = boto3.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]["VariantName"]
    capture = config.get("DataCaptureConfig") or {}
    if not capture.get("DestinationS3Uri"):
        raise DemoError(f"endpoint {endpoint_name} has no data capture")
    return str(variant), str(capture["DestinationS3Uri"])


def _window_traffic(ctx: DemoContext, scenario: str) -> tuple[datetime, datetime]:
    """Send one window of traffic through the endpoint; return the window [start, end)."""
    pool_dir = ctx.out / "data" / "test"
    pool = labelled_images(pool_dir) if pool_dir.is_dir() else []
    if not pool:
        pool = labelled_images(ctx.out / "data" / "validation")
    start = datetime.now(UTC).replace(microsecond=0)
    sent = invoke_endpoint(
        pool,
        scenario,
        ctx.args.drift_records,
        str(ctx.system["endpoint_name"]),
        seed=sum(scenario.encode()),  # a fixed seed per scenario
    )
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    # Capture times have one-second resolution: the next window starts strictly later.
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.05)
    _say(f"{scenario}: {sent['sent']} requests sent ({sent['failed']} failed), captured")
    return start, end


def _drift_job(ctx: DemoContext, name: str, window: tuple[datetime, datetime]) -> dict[str, Any]:
    endpoint = str(ctx.system["endpoint_name"])
    variant, capture_uri = _endpoint_capture(endpoint)
    output = ctx.out / "monitoring" / name
    argv = [
        "--captures",
        capture_uri,
        "--baseline",
        ctx.baseline_uri,  # the released one, as the deployed job reads it
        "--model-sha256",
        ctx.model_sha256,
        "--start",
        window[0].isoformat(),
        "--end",
        window[1].isoformat(),
        "--output",
        str(output),
        "--publish",
        "--endpoint-name",
        endpoint,
        "--variant-name",
        variant,
        "--stage",
        STAGE,
    ]
    # The drift job judges at the stage's threshold, as the deployed job does (it must equal
    # the baseline's, which was counted at the promoted model's).
    effective = ctx.summary.get("promotion", {}).get("effective_decision_threshold")
    if effective is not None:
        argv += ["--threshold", str(effective)]
    code = cli.main(argv)
    if code not in {0, 3}:
        raise DemoError(f"the drift job failed on the {name} window (exit {code})")
    report: dict[str, Any] = json.loads((output / "report.json").read_text())
    drifted = [f for f, r in report.get("features", {}).items() if r.get("drift")]
    _say(
        f"{name}: {report['records']} records, drift score {report.get('drift_score', 0):.2f}, "
        f"drift_detected={report['drift_detected']} {drifted or ''}"
    )
    ctx.reports[name] = (output, report, variant)
    return report


def _alarm_states(ctx: DemoContext, name: str) -> list[tuple[str, str, float, float, bool]]:
    """Evaluate the deployed drift alarms against the metrics one report published.

    The emulator stores alarms but does not evaluate them; this applies each alarm's own metric,
    dimensions, comparison and threshold to the data the drift job just put.
    """
    _, report, variant = ctx.reports[name]
    dims = Dimensions(str(ctx.system["endpoint_name"]), variant, STAGE)
    data = metric_data(report, dims)
    rows = []
    paginator = boto3.client("cloudwatch").get_paginator("describe_alarms")
    for page in paginator.paginate():
        for alarm in page["MetricAlarms"]:
            if alarm.get("Namespace") != DEFAULT_NAMESPACE or "MetricName" not in alarm:
                continue
            wanted = {(d["Name"], d["Value"]) for d in alarm.get("Dimensions", [])}
            for datum in data:
                have = {(d["Name"], d["Value"]) for d in datum["Dimensions"]}
                if datum["MetricName"] == alarm["MetricName"] and wanted <= have:
                    compare = COMPARISONS.get(alarm["ComparisonOperator"])
                    if compare is None:
                        continue
                    firing = bool(compare(datum["Value"], alarm["Threshold"]))
                    rows.append(
                        (
                            alarm["AlarmName"],
                            alarm["MetricName"],
                            datum["Value"],
                            alarm["Threshold"],
                            firing,
                        )
                    )
    return rows


def drift_monitoring(ctx: DemoContext) -> None:
    """Clean traffic -> no drift; injected drift -> drift metrics cross their alarm thresholds."""
    clean = _drift_job(ctx, "clean", _window_traffic(ctx, "clean"))
    scenario = ctx.args.drift_scenario
    drifted = _drift_job(ctx, scenario, _window_traffic(ctx, scenario))
    cloudwatch = boto3.client("cloudwatch")
    for name in ("clean", scenario):
        for alarm, metric, value, threshold, firing in _alarm_states(ctx, name):
            state = "ALARM" if firing else "OK"
            _say(f"{name:<8} {alarm:<48} {metric} {value:.3f} vs {threshold:g} -> {state}")
            if firing and name == scenario:
                cloudwatch.set_alarm_state(
                    AlarmName=alarm,
                    StateValue="ALARM",
                    StateReason=f"local run: {metric} {value:.3f} crossed {threshold:g}",
                )
    ctx.summary["drift"] = {
        "clean": {
            "drift_detected": clean["drift_detected"],
            "drift_score": clean.get("drift_score"),
        },
        scenario: {
            "drift_detected": drifted["drift_detected"],
            "drift_score": drifted.get("drift_score"),
        },
    }


# -- pictures and teardown ---------------------------------------------------------------------


def show_results(ctx: DemoContext) -> None:
    pictures = [
        ctx.out / "model" / "training_curves.png",
        ctx.out / "model" / "confusion_matrix.png",
        *(output / "report.html" for output, _, _ in ctx.reports.values()),
    ]
    for picture in pictures:
        if picture.is_file():
            _say(f"picture  {picture}")
    (ctx.out / "summary.json").write_text(json.dumps(ctx.summary, indent=2, default=str) + "\n")
    _say(f"summary  {ctx.out / 'summary.json'}")


def teardown(ctx: DemoContext) -> None:
    assert ctx.stage is not None
    if ctx.args.keep:
        _say("--keep: the stack stays up while this process runs; Ctrl-C ends it.")
        _say(
            "tear down by hand: python -m devkit.local_stage destroy "
            f"--endpoint {ctx.stage.endpoint_url} --work-dir {ctx.stage.work_dir}"
        )
        return
    ctx.stage.destroy()
    _say(
        f"terraform destroy done in {ctx.stage.timings.get('destroy', 0):.0f} s; "
        "the emulator stops with this process"
    )
