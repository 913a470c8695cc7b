"""The split: stratified, seeded, order-independent, and never leaking an image across splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.data.errors import SplitError
from training.data.sources import SourceData
from training.data.split import assert_disjoint, make_splits, stratified_indices
from training.dataset import ImageSet


def image_set(labels: list[int], prefix: str = "train", seed: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    count = len(labels)
    return ImageSet(
        pixels=rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8),
        labels=np.array(labels, dtype=np.int64),
        ids=[f"{prefix}_{i:05d}" for i in range(count)],
        origins=[f"{prefix}#{i}" for i in range(count)],
    )


labels_strategy = st.lists(st.integers(0, 1), min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(labels=labels_strategy, fraction=st.floats(0.0, 0.95), seed=st.integers(0, 2**32 - 1))
def test_split_partitions_and_stratifies(labels, fraction, seed):
    label_array = np.array(labels, dtype=np.int64)
    ids = [f"id{i}" for i in range(len(labels))]
    train, validation = stratified_indices(ids, label_array, fraction, seed)
    assert sorted([*train.tolist(), *validation.tolist()]) == list(range(len(labels)))
    for label in (0, 1):
        total = int(np.sum(label_array == label))
        in_validation = int(np.sum(label_array[validation] == label))
        assert abs(in_validation - total * fraction) <= 1  # stratified: each label's share
        if fraction == 0:
            assert in_validation == 0
        elif total >= 2:
            assert 1 <= in_validation <= total - 1  # both parts see every label


@settings(max_examples=30, deadline=None)
@given(labels=labels_strategy, seed=st.integers(0, 1000), data=st.data())
def test_split_does_not_depend_on_input_order(labels, seed, data):
    label_array = np.array(labels, dtype=np.int64)
    ids = [f"id{i:04d}" for i in range(len(labels))]
    order = data.draw(st.permutations(range(len(labels))))
    _, validation = stratified_indices(ids, label_array, 0.25, seed)
    shuffled_ids = [ids[i] for i in order]
    _, validation_shuffled = stratified_indices(shuffled_ids, label_array[list(order)], 0.25, seed)
    assert {ids[i] for i in validation} == {shuffled_ids[i] for i in validation_shuffled}


def test_different_seeds_choose_different_validation_images():
    labels = np.array([0, 1] * 100)
    ids = [f"id{i}" for i in range(200)]
    _, first = stratified_indices(ids, labels, 0.2, seed=1)
    _, second = stratified_indices(ids, labels, 0.2, seed=2)
    assert len(first) == len(second) == 40
    assert set(first.tolist()) != set(second.tolist())


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_fraction_out_of_range_is_a_split_error(fraction):
    with pytest.raises(SplitError, match="validation fraction"):
        stratified_indices(["a"], np.array([0]), fraction, 0)


def test_duplicates_of_test_images_are_dropped_from_train():
    train = image_set([0, 1, 0, 1, 0, 1], seed=1)
    test = image_set([0, 1], prefix="test", seed=2)
    train.pixels[0] = test.pixels[0]  # a train image that is also in test
    train.pixels[3] = train.pixels[1]  # a duplicate inside train
    splits = make_splits(SourceData(train, test), validation_fraction=0.5, seed=0)
    assert splits.duplicates == {
        "within_train": 1,
        "within_test": 0,
        "train_in_test": 1,
        "conflicting_labels": 0,
    }
    assert len(splits.train) + len(splits.validation) == 4
    assert "train_00000" not in splits.train.ids + splits.validation.ids
    assert_disjoint(splits)


def test_duplicate_with_conflicting_label_is_counted():
    train = image_set([0, 1, 0, 1], seed=3)
    train.pixels[1] = train.pixels[0]
    splits = make_splits(SourceData(train, ImageSet.empty()), validation_fraction=0.0, seed=0)
    assert splits.duplicates["conflicting_labels"] == 1
    assert len(splits.train) == 3


def test_duplicates_policy_error_refuses_to_stage():
    train = image_set([0, 1, 0, 1], seed=3)
    train.pixels[2] = train.pixels[0]
    with pytest.raises(SplitError, match="within train: 1"):
        make_splits(
            SourceData(train, ImageSet.empty()),
            validation_fraction=0.25,
            seed=0,
            duplicates="error",
        )


def test_leak_check_names_the_identical_images():
    train = image_set([0, 1, 0, 1], seed=4)
    splits = make_splits(SourceData(train, ImageSet.empty()), validation_fraction=0.5, seed=0)
    splits.validation.pixels[0] = splits.train.pixels[0]
    with pytest.raises(SplitError, match="pixel-identical"):
        assert_disjoint(splits)


@settings(max_examples=25, deadline=None)
@given(
    train_labels=st.lists(st.integers(0, 1), min_size=2, max_size=40),
    copies=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=10),
    seed=st.integers(0, 100),
)
def test_no_image_is_ever_in_two_splits(train_labels, copies, seed):
    train = image_set([*train_labels, 0, 1], seed=seed)
    test = image_set([0, 1, 1], prefix="test", seed=seed + 1)
    size = len(train)
    for source, target in copies:
        pool = np.concatenate([train.pixels, test.pixels])
        train.pixels[target % size] = pool[source % len(pool)]
    try:
        splits = make_splits(SourceData(train, test), validation_fraction=0.3, seed=seed)
    except SplitError as error:
        # Deduplication removed every training image, or every one of a class.
        assert "have no" in str(error) or "no training images" in str(error)
        return
    assert_disjoint(splits)
    digests = [p.tobytes() for s in splits.by_name().values() for p in s.pixels]
    assert len(digests) == len(set(digests))


def test_one_class_only_cannot_train():
    with pytest.raises(SplitError, match="no motorcycle"):
        make_splits(
            SourceData(image_set([0, 0, 0]), ImageSet.empty()), validation_fraction=0.2, seed=0
        )
