"""The staging job end to end on local disk: layout, formats, determinism, atomic output, CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devkit.local_stage import REPO_ROOT
from training.data import write as write_module
from training.data.__main__ import main
from training.data.errors import OutputError
from training.data.stage import stage


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def staged(small_archive, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("staged") / "out"
    stage(str(small_archive[0]), out, seed=7, validation_fraction=0.2, progress=False)
    return out


def test_layout_counts_and_png_format(staged):
    counts = {}
    for split in ("train", "validation", "test"):
        for label in ("bicycle", "motorcycle"):
            files = sorted((staged / split / label).glob("*.png"))
            counts[(split, label)] = len(files)
            with Image.open(files[0]) as image:
                assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))
    assert counts == {
        ("train", "bicycle"): 40,
        ("train", "motorcycle"): 40,
        ("validation", "bicycle"): 10,
        ("validation", "motorcycle"): 10,
        ("test", "bicycle"): 10,
        ("test", "motorcycle"): 10,
    }
    names = {p.name for p in staged.rglob("*.png")}
    assert all(n.startswith(("train_", "test_")) for n in names)
    assert not any(p.name.startswith("test_") for p in (staged / "validation").rglob("*.png"))


def test_lst_files_point_at_every_image_relative_to_the_split(staged):
    indices = []
    for split in ("train", "validation", "test"):
        lines = (staged / f"{split}.lst").read_text().splitlines()
        rows = [line.split("\t") for line in lines]
        assert all(len(row) == 3 for row in rows)
        indices += [int(r[0]) for r in rows]
        for _, label, relative in rows:
            assert relative.split("/")[0] == ("bicycle", "motorcycle")[int(label)]
            assert (staged / split / relative).is_file()
        assert len(rows) == len(list((staged / split).rglob("*.png")))
    assert indices == list(range(120))  # unique across all images, as SageMaker requires


def test_manifests_have_source_ref_and_class(staged):
    for split in ("train", "validation", "test"):
        records = [json.loads(line) for line in (staged / "manifests" / f"{split}.jsonl").open()]
        assert len(records) == len(list((staged / split).rglob("*.png")))
        for record in records:
            assert set(record) == {"source-ref", "class"}
            assert (staged / record["source-ref"]).is_file()
            assert record["source-ref"].split("/")[1] == ("bicycle", "motorcycle")[record["class"]]


def test_dataset_card_counts_and_hashes_match_the_files(staged):
    card = json.loads((staged / "dataset_card.json").read_text())
    assert card["seed"] == 7 and card["validation_fraction"] == 0.2
    assert card["classes"] == ["bicycle", "motorcycle"]
    assert card["splits"]["test"] == card["splits"]["test"] | {
        "count": 20,
        "per_label": {"bicycle": 10, "motorcycle": 10},
    }
    assert card["source"]["kind"] == "cifar100-archive" and len(card["source"]["md5"]) == 32

    pngs = sorted(staged.rglob("*.png"))
    assert len(card["files"]) == len(pngs)
    for path in pngs:
        relative = path.relative_to(staged).as_posix()
        assert card["files"][relative]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_bytes_and_other_seed_another_split(small_archive, tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((first, 3), (second, 3), (other, 4)):
        stage(str(small_archive[0]), out, seed=seed, progress=False)
    assert tree_bytes(first) == tree_bytes(second)
    assert tree_bytes(first)["validation.lst"] != tree_bytes(other)["validation.lst"]
    assert tree_bytes(first)["test.lst"] == tree_bytes(other)["test.lst"]


def test_image_folder_without_test_split_stages_an_empty_test(image_folder, tmp_path):
    root = image_folder({"bicycle": 10, "motorcycle": 10})
    out = tmp_path / "folder-out"
    result = stage(str(root), out, validation_fraction=0.2, progress=False)
    assert result.card["splits"]["test"]["count"] == 0
    assert result.card["splits"]["validation"]["per_label"] == {"bicycle": 2, "motorcycle": 2}
    assert (out / "test.lst").read_text() == ""
    assert (out / "train" / "bicycle").is_dir() and (out / "test" / "motorcycle").is_dir()


def test_pixel_identical_images_in_a_folder_never_span_splits(image_folder, tmp_path):
    root = image_folder({"bicycle": 6, "motorcycle": 6})
    (root / "bicycle" / "copy.png").write_bytes((root / "bicycle" / "bicycle_000.png").read_bytes())
    result = stage(str(root), tmp_path / "out", validation_fraction=0.5, progress=False)
    assert result.card["duplicates_dropped"]["within_train"] == 1
    pixels = [np.asarray(Image.open(p)).tobytes() for p in (tmp_path / "out").rglob("*.png")]
    assert len(pixels) == 12 and len(set(pixels)) == 12


def test_failed_run_leaves_previous_output_untouched(small_archive, image_folder, tmp_path):
    out = tmp_path / "out"
    stage(str(small_archive[0]), out, progress=False)
    before = tree_bytes(out)
    root = image_folder({"bicycle": 2, "motorcycle": 2})
    (root / "bicycle" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main(["stage", "--source", str(root), "--out", str(out), "--quiet"]) == 2
    assert tree_bytes(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_first_failed_run_creates_no_output(small_archive, tmp_path):
    out = tmp_path / "never"
    code = main(["stage", "--source", str(small_archive[0]), "--out", str(out), "--md5", "0" * 32])
    assert code == 2
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_an_output_error(small_archive, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="cannot write"):
        stage(str(small_archive[0]), blocker / "out", progress=False)


def test_refuses_to_replace_a_directory_that_is_not_a_dataset(small_archive, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not a staged dataset"):
        stage(str(small_archive[0]), out, progress=False)
    assert (out / "thesis.txt").read_text() == "keep me"


def test_cli_error_is_one_line_without_traceback(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00 truncated")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.data",
            "stage",
            "--source",
            str(archive),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0
    assert completed.stderr.startswith("error: ArchiveFormatError:")
    assert "broken.tar.gz" in completed.stderr and "Traceback" not in completed.stderr


def test_cli_prints_a_summary(small_archive, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stage", "--source", str(small_archive[0]), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "train" in printed and "(bicycle 40, motorcycle 40)" in printed


def test_crash_while_writing_leaves_no_trusted_output(small_archive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    stage(str(small_archive[0]), out, seed=1, progress=False)
    before = tree_bytes(out)
    calls = {"n": 0}
    real_encode = write_module.encode_png

    def failing_encode(pixels):
        calls["n"] += 1
        if calls["n"] > 30:
            raise OSError(28, "No space left on device")
        return real_encode(pixels)

    monkeypatch.setattr(write_module, "encode_png", failing_encode)
    with pytest.raises(OutputError, match="No space left"):
        stage(str(small_archive[0]), out, seed=2, progress=False)
    assert tree_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_label_alias_folders_never_overwrite_and_the_card_counts_collisions(tmp_path, capsys):
    """`0/` and `bicycle/` are the same label: same-named files in both are both staged."""
    root = tmp_path / "aliases"
    rng = np.random.default_rng(5)
    for folder, count in (("0", 6), ("bicycle", 6), ("1", 6), ("Motorcycle", 6)):
        (root / folder).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"img_{index}.png")
    out = tmp_path / "out"
    code = main(["stage", "--source", str(root), "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    card = json.loads((out / "dataset_card.json").read_text())
    staged = [p for p in out.rglob("*.png")]
    assert len(staged) == len(card["files"]) == 24  # every source image, none overwritten
    assert sum(split["count"] for split in card["splits"].values()) == 24
    collisions = card["source"]["name_collisions"]
    assert collisions["count"] == len(collisions["renamed"]) == 12
    assert {entry["staged_as"].split("/")[0] for entry in collisions["renamed"]} == {
        "bicycle",
        "motorcycle",
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "-1"], "--seed: -1 is below 0"),
        (["--workers", "0"], "--workers: 0 is below 1"),
        (["--validation-fraction", "nan"], "not a finite number: 'nan'"),
        (["--validation-fraction", "1"], "is not in [0, 1)"),
        (["--md5", "xyz"], "is not an MD5"),
        (["--md5", "0" * 32], "--md5 checks an archive"),
    ],
)
def test_cli_arguments_are_checked_where_parsed(image_folder, tmp_path, capsys, extra, message):
    root = image_folder({"bicycle": 2, "motorcycle": 2})
    with pytest.raises(SystemExit) as exit_:
        main(["stage", "--source", str(root), "--out", str(tmp_path / "out"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
