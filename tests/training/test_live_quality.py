"""Live quality from label records: hand-counted cases, the bound's verdicts, and the CLI on the
emulator's S3 (JSON, the plot, malformed lines counted)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from lambdas.shared.label_record import LabelRecord
from tests.label_records import ROUTED as ROUTED_RECORD
from training.live_quality import live_quality, main, quality_block

ROUTED = replace(
    ROUTED_RECORD,
    image="s3://bucket/incoming/a.jpg",
    inference_id="r",
    model_version="v1",
    decided_at="2026-12-01T08:00:00.000Z",
)


def routed(n: int, **changes: object) -> list[LabelRecord]:
    return [
        replace(ROUTED, inference_id=f"r{i}-{uuid.uuid4().hex[:6]}", **changes) for i in range(n)
    ]


def reviewed(n: int, reason: str, label: str, **changes: object) -> list[LabelRecord]:
    return routed(n, decision="reviewed", reason=reason, label=label, reviewer="rev", **changes)


def test_hand_counted_shares_rates_and_the_low_confidence_view():
    records = (
        routed(100)
        + reviewed(49, "audit", "bicycle")
        + reviewed(1, "audit", "motorcycle")  # a confident mistake: a misroute
        + reviewed(15, "low_confidence", "bicycle", confidence=0.7)
        + reviewed(3, "low_confidence", "motorcycle", confidence=0.6)
        + reviewed(2, "low_confidence", "not_a_vehicle", confidence=0.55)
    )
    block = quality_block(records, 0.01)
    assert block["decisions"] == 170 and block["routed_automatically"] == 100
    assert block["automated_share"] == pytest.approx(100 / 170)
    assert block["confident_share"] == pytest.approx(150 / 170)
    audit = block["audit"]
    assert (audit["reviewed"], audit["misrouted"], audit["misroute_rate"]) == (50, 1, 0.02)
    assert audit["status"] == "above target"
    assert audit["misroute_upper_bound_95"] > 0.02
    unsure = block["low_confidence"]
    assert (unsure["reviewed"], unsure["model_right"], unsure["not_a_vehicle"]) == (20, 15, 2)
    assert unsure["model_accuracy"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("audits", "wrong", "status"),
    [
        (300, 0, "within target"),  # 95 % bound 1 - 0.05 ** (1 / 300) = 0.00994
        (299, 0, "within target"),  # bound 0.00997: the fewest that certify 1 %
        (298, 0, "too few audits to tell (needs >= 299)"),  # bound 0.010002: just over
        (100, 0, "too few audits to tell (needs >= 299)"),  # bound 0.0295
        (0, 0, "no audits"),
        (100, 2, "above target"),
    ],
)
def test_the_bound_says_whether_the_stage_meets_its_target(audits, wrong, status):
    records = reviewed(audits - wrong, "audit", "bicycle") + reviewed(wrong, "audit", "motorcycle")
    assert quality_block(records + routed(5), 0.01)["audit"]["status"] == status


def test_a_confident_answer_on_a_non_vehicle_is_a_misroute():
    block = quality_block(
        reviewed(9, "audit", "bicycle") + reviewed(1, "audit", "not_a_vehicle"), 0.01
    )
    assert block["audit"]["misrouted"] == 1 and block["audit"]["not_a_vehicle"] == 1


def test_versions_days_and_since_split_the_decisions():
    early = routed(3, model_version="v1") + reviewed(2, "audit", "bicycle", model_version="v1")
    late = routed(4, model_version="v2", decided_at="2026-12-03T09:30:00.000Z")
    report = live_quality(early + late)
    assert set(report["by_model_version"]) == {"v1", "v2"}
    assert report["by_model_version"]["v2"]["decisions"] == 4
    assert [(d["day"], d["decisions"]) for d in report["daily"]] == [
        ("2026-12-01", 5),
        ("2026-12-03", 4),
    ]
    since = live_quality(early + late, since="2026-12-02")
    assert since["overall"]["decisions"] == 4 and list(since["by_model_version"]) == ["v2"]


def test_cli_reads_the_stage_records_and_writes_json_and_a_plot(emulator, tmp_path: Path, capsys):
    s3 = boto3.client("s3")
    bucket = f"labels-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    for record in (
        routed(6) + reviewed(2, "audit", "bicycle") + reviewed(1, "low_confidence", "bicycle")
    ):
        s3.put_object(Bucket=bucket, Key=record.key("labels/"), Body=record.json_line())
    s3.put_object(Bucket=bucket, Key="labels/broken.jsonl", Body=b"{not json\n")
    code = main(["--labels", f"s3://{bucket}/labels/", "--out", str(tmp_path / "q")])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["overall"]["decisions"] == 9
    assert printed["records"]["left_out"] == {"malformed_record": 1}
    assert json.loads((tmp_path / "q" / "quality.json").read_text()) == printed
    assert (tmp_path / "q" / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line_and_exit_2(emulator, capsys):
    assert main(["--labels", "s3://no-such-bucket-here/labels/"]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: SourceError:")
    with pytest.raises(SystemExit) as exited:
        main(["--labels", "s3://b/labels/", "--since", "yesterday"])
    assert exited.value.code == 2
