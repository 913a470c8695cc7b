"""The reviewers' label records as a staging source (`labels:`), against the emulator's S3 and
offline: what is used, what is left out and counted, and retraining's merge with base data."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
import pytest

from lambdas.shared.label_record import LabelRecord
from tests.images import seeded, solid
from tests.label_records import REVIEWED as REVIEWED_RECORD
from training.data import live_labels
from training.data.__main__ import main
from training.data.errors import NoTargetLabelsError, SourceError
from training.data.images import MAX_IMAGE_BYTES, decode_image
from training.data.live_labels import held_out, read_label_records, split_held_out
from training.data.s3 import make_client
from training.data.stage import stage
from training.dataset import ImageSet
from training.evaluate import main as evaluate_main
from training.train import main as train_main

pytestmark = pytest.mark.integration

REVIEWED = replace(
    REVIEWED_RECORD,
    image="s3://bucket/incoming/a.jpg",
    inference_id="id-0",
    model_version="v3",
    decided_at="2026-12-06T10:00:00.000Z",
)


class Labels:
    """A bucket holding uploads under incoming/ and label records under labels/."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3")
        self.bucket = f"labels-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.uri = f"labels:s3://{self.bucket}/labels/"

    def add(self, record: LabelRecord, image: bytes | None = b"", key: str | None = None) -> None:
        """The record, and its image unless `image` is None (a missing object)."""
        record = replace(record, image=f"s3://{self.bucket}/incoming/{record.inference_id}.img")
        if image is not None:
            body = image or seeded(record.inference_id, (640, 480), fmt="JPEG")
            self.s3.put_object(Bucket=self.bucket, Key=record.image.split("/", 3)[3], Body=body)
        self.put(key or record.key("labels/"), record.json_line())

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)


@pytest.fixture
def labels(emulator) -> Labels:
    return Labels()


def reviewed(index: int, label: str = "motorcycle", **changes: object) -> LabelRecord:
    return replace(REVIEWED, inference_id=f"id-{index}", label=label, **changes)


def test_reviewed_vehicles_become_training_images_as_the_endpoint_saw_them(labels):
    photo = seeded("phone", (1200, 900), fmt="JPEG")
    labels.add(reviewed(1, "bicycle"), image=photo)
    labels.add(reviewed(2, "motorcycle", reason="audit", predicted="motorcycle"))
    images, card = read_label_records(labels.uri, progress=False)
    assert images.ids == ["live_id-1", "live_id-2"]
    assert images.labels.tolist() == [0, 1]  # the human's label, not the model's
    # Through the contract's one preparation: the phone photo's 32x32 pixels, as served.
    assert np.array_equal(images.pixels[0], decode_image(photo))
    assert images.origins[0] == f"s3://{labels.bucket}/incoming/id-1.img"
    assert card["used"] == 2 and card["records"] == 2 and card["skipped"] == {}
    assert card["reasons"] == {"audit": 1, "low_confidence": 1}
    assert card["model_versions"] == {"v3": 2}


def test_what_is_left_out_is_counted_with_examples_and_never_fatal(labels):
    labels.add(reviewed(1))  # the one usable record
    labels.add(
        replace(
            reviewed(2),
            decision="routed",
            reason=None,
            label=None,
            reviewer=None,
        )
    )
    labels.add(reviewed(3, "not_a_vehicle"))
    labels.add(reviewed(4), image=None)  # the upload expired
    labels.add(reviewed(5), image=b"not an image")
    labels.add(reviewed(6), image=solid() + bytes(MAX_IMAGE_BYTES))  # over the size limit
    labels.put("labels/garbage.jsonl", b'{"schema_version": 1}\nnot json\n')
    labels.put("labels/readme.txt", b"not a record file")
    images, card = read_label_records(labels.uri, progress=False)
    assert images.ids == ["live_id-1"]
    assert card["skipped"] == {
        "bad_image": 2,
        "malformed_record": 2,
        "missing_image": 1,
        "not_a_vehicle": 1,
        "routed_unreviewed": 1,
    }
    assert card["records"] == 8
    reasons = {example["reason"] for example in card["skipped_examples"]}
    assert "malformed_record" in reasons and len(card["skipped_examples"]) == 5


def test_a_record_that_expires_mid_read_or_is_too_large_is_counted(labels, monkeypatch):
    labels.add(reviewed(1))
    labels.add(reviewed(2))
    labels.put("labels/export.jsonl", b"".join(reviewed(i).json_line() for i in range(3, 9)))
    monkeypatch.setattr(live_labels, "MAX_RECORD_BYTES", 1024)  # the export is over it
    client = make_client(4)

    def expire(params, **_):  # lifecycle deletes id-2's record between listing and reading it
        if params["Key"] == "labels/id-2.jsonl":
            labels.s3.delete_object(Bucket=params["Bucket"], Key=params["Key"])

    client.meta.events.register("before-parameter-build.s3.GetObject", expire)
    images, card = read_label_records(labels.uri, progress=False, client=client)
    assert images.ids == ["live_id-1"]
    assert card["skipped"] == {"malformed_record": 1, "missing_record": 1}


def test_a_record_in_the_bucket_cannot_name_a_local_file_or_a_broken_uri(labels, tmp_path):
    local = tmp_path / "local.png"
    local.write_bytes(solid())
    labels.add(reviewed(1))
    for index, image in ((2, str(local)), (3, "s3:///no-bucket.png"), (4, "s3://b")):
        labels.put(f"labels/id-{index}.jsonl", replace(reviewed(index), image=image).json_line())
    images, card = read_label_records(labels.uri, progress=False)
    assert images.ids == ["live_id-1"] and card["skipped"] == {"unreadable_image": 3}
    assert any(str(local) in example["detail"] for example in card["skipped_examples"])


def test_a_relabelled_image_keeps_its_latest_answer(labels):
    early = reviewed(1, "bicycle", decided_at="2026-12-06T10:00:00.000Z")
    late = reviewed(1, "motorcycle", decided_at="2026-12-06T11:00:00.000Z")
    labels.add(late, key="labels/a-late.jsonl")
    labels.add(early, key="labels/b-early.jsonl")  # listed after, decided before
    images, card = read_label_records(labels.uri, progress=False)
    assert images.labels.tolist() == [1] and card["skipped"] == {"superseded": 1}


def test_no_usable_label_is_a_clear_error(labels):
    labels.add(reviewed(1, "not_a_vehicle"))
    with pytest.raises(NoTargetLabelsError, match="not_a_vehicle"):
        read_label_records(labels.uri, progress=False)


def test_an_unreadable_prefix_is_a_source_error(emulator):
    with pytest.raises(SourceError, match="no-such-bucket"):
        read_label_records("labels:s3://no-such-bucket/labels/", progress=False)
    with pytest.raises(SourceError, match="not an s3:// prefix or a folder"):
        read_label_records("labels:/no/such/folder", progress=False)


def test_offline_records_name_images_beside_them(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(solid((64, 48)))
    lines = [
        replace(reviewed(1, "bicycle"), image="images/a.png").json_line(),
        replace(reviewed(2), image="images/gone.png").json_line(),
    ]
    (tmp_path / "records.jsonl").write_bytes(b"".join(lines))
    images, card = read_label_records(f"labels:{tmp_path}", progress=False)
    assert images.ids == ["live_id-1"] and card["skipped"] == {"missing_image": 1}


TINY_TRAINING = [
    "--epochs", "1", "--no-progress", "--widths", "4,8,8", "--threads", "1",
    "--pretrained", "false", "--ensemble", "1", "--max-misroute-rate", "0.2",
]  # fmt: skip


def test_retraining_stages_base_data_and_reviewed_labels_as_one(
    labels, image_folder, tmp_path, capsys
):
    """The README's retraining flow, in its order and with its flags: the base data and the
    label records staged as one, trained on, and compared with the deployed model on the same
    test images. (A local folder with train/ and test/ stands in for `cifar100`, offline; a
    tiny recipe: the flow, not the quality.)"""
    base = tmp_path / "base"
    image_folder({"bicycle": 6, "motorcycle": 6}, root=base / "train")
    image_folder({"bicycle": 3, "motorcycle": 3}, root=base / "test", seed=5)
    deployed = tmp_path / "runs" / "m1"
    assert main(["stage", "--source", str(base), "--out", str(tmp_path / "first"), "--quiet"]) == 0
    assert train_main(["--backend", "local", "--data", str(tmp_path / "first"),
                       "--output", str(deployed), *TINY_TRAINING]) == 0  # fmt: skip
    for index in range(8):
        labels.add(reviewed(index, ("bicycle", "motorcycle")[index % 2]))
    duplicate = (base / "train" / "bicycle" / "bicycle_000.png").read_bytes()
    labels.add(reviewed(9, "bicycle"), image=duplicate)  # a reviewer saw a base image again
    out = tmp_path / "out" / "retrain"
    code = main(["stage", "--source", str(base), "--source", labels.uri, "--out", str(out)])
    assert code == 0
    card = json.loads((out / "dataset_card.json").read_text())
    kinds = [source["kind"] for source in card["source"]["sources"]]
    assert kinds == ["image-folder", "label-records"]
    assert card["duplicates_dropped"]["within_train"] == 1
    # The held-out share of the labels joins the base's test split, the rest trains.
    live = [f"live_id-{index}" for index in range(8)]
    tested = [image_id for image_id in live if held_out(image_id, 0.2)]
    assert tested == ["live_id-6"]  # the hash's choice, the same in every run
    assert card["source"]["sources"][1]["held_out_as_test"] == {
        "fraction": 0.2,
        "count": len(tested),
    }
    trained = [p.stem for split in ("train", "validation") for p in out.glob(f"{split}/*/*.png")]
    assert sorted(stem for stem in trained if stem.startswith("live_")) == sorted(
        set(live) - set(tested)
    )
    assert len(trained) == 12 + 8 - len(tested)
    test_stems = sorted(p.stem for p in out.glob("test/*/*.png"))
    assert len(test_stems) == 6 + len(tested) and set(tested) <= set(test_stems)
    retrain = tmp_path / "runs" / "retrain"
    code = train_main(["--backend", "local", "--data", str(out), "--output", str(retrain),
                       *TINY_TRAINING])  # fmt: skip
    assert code == 0
    metrics = json.loads((retrain / "metrics.json").read_text())
    assert metrics["num_train"] + metrics["num_validation"] == len(trained)
    capsys.readouterr()
    code = evaluate_main(["--model", str(retrain / "model.tar.gz"), "--data", str(out / "test"),
                          "--against", str(deployed / "model.tar.gz")])  # fmt: skip
    assert code == 0
    comparison = json.loads(capsys.readouterr().out)["comparison"]
    assert comparison["images"] == len(test_stems) and comparison["against"] == str(
        deployed / "model.tar.gz"
    )
    assert set(comparison["routing"]) == {"candidate", "deployed"}


def test_two_sources_with_one_image_id_are_refused(image_folder, tmp_path):
    first = image_folder({"bicycle": 2, "motorcycle": 2}, root=tmp_path / "a")
    second = image_folder({"bicycle": 2, "motorcycle": 2}, root=tmp_path / "b", seed=1)
    with pytest.raises(SourceError, match="two sources"):
        stage([str(first), str(second)], tmp_path / "out", progress=False)


def test_the_held_out_labels_are_the_same_in_every_retraining():
    ids = [f"live_{uuid.UUID(int=index)}" for index in range(2000)]
    images = ImageSet(
        pixels=np.zeros((len(ids), 32, 32, 3), dtype=np.uint8),
        labels=np.arange(len(ids)) % 2,
        ids=ids,
        origins=ids,
    )
    train, test = split_held_out(images, 0.2)
    assert 0.17 < len(test) / len(ids) < 0.23 and len(train) + len(test) == len(ids)
    # Per id, whatever else is staged: a later retraining with more labels keeps them held out.
    later_train, later_test = split_held_out(images.subset(np.arange(0, 2000, 3)), 0.2)
    assert set(later_test.ids) == set(test.ids) & set(later_train.ids + later_test.ids)
    assert len(split_held_out(images, 0.0)[1]) == 0
