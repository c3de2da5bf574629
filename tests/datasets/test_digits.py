"""Tests of :mod:`nngraph.datasets`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sklearn.datasets
import torch

from nngraph.datasets import Dataset, load_digits, load_two_digits


def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    bunch = sklearn.datasets.load_digits()
    return bunch.images.astype(np.float32) / 16.0, bunch.target


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    a = a.reshape(a.shape[0], -1)
    return a[np.lexsort(a.T[::-1])]


def _label_lookup(x: torch.Tensor, y: torch.Tensor) -> dict[bytes, set[int]]:
    """Map each 8x8 image (as bytes) to the labels it carries in a digits split."""
    table: dict[bytes, set[int]] = {}
    for img, label in zip(x.reshape(-1, 8, 8).numpy(), y.numpy(), strict=True):
        table.setdefault(img.tobytes(), set()).add(int(label))
    return table


# --------------------------------------------------------------------------- load_digits


@pytest.mark.parametrize("flatten", [True, False])
def test_digits_shapes_dtypes_ranges(flatten):
    data = load_digits(flatten=flatten)
    assert isinstance(data, Dataset)
    assert data.name == "digits"
    assert data.n_classes == 10
    assert data.n_heads == 1
    feature_shape = (64,) if flatten else (1, 8, 8)
    assert tuple(data.x_train.shape) == (1347, *feature_shape)
    assert tuple(data.x_test.shape) == (450, *feature_shape)
    assert data.input_shape == feature_shape
    assert tuple(data.y_train.shape) == (1347,)
    assert tuple(data.y_test.shape) == (450,)
    for x in (data.x_train, data.x_test):
        assert x.dtype == torch.float32
        assert x.is_contiguous()
        assert float(x.min()) == 0.0
        assert float(x.max()) == 1.0
    for y in (data.y_train, data.y_test):
        assert y.dtype == torch.int64
        assert set(y.tolist()) == set(range(10))


def test_digits_values_are_sklearn_divided_by_16():
    images, _ = _raw_digits()
    data = load_digits()
    allowed = set((np.arange(17) / 16.0).astype(np.float32).tolist())
    assert set(np.unique(data.x_train.numpy()).tolist()) <= allowed
    both = np.concatenate([data.x_train.numpy(), data.x_test.numpy()])
    np.testing.assert_array_equal(_sorted_rows(both), _sorted_rows(images))


def test_digits_split_is_a_partition():
    images, labels = _raw_digits()
    data = load_digits()
    # Appending the label to each image: the union of the two splits is exactly the
    # data set, as a multiset, so no example is in both.
    rows = np.concatenate(
        [
            np.column_stack([data.x_train.numpy(), data.y_train.numpy()]),
            np.column_stack([data.x_test.numpy(), data.y_test.numpy()]),
        ]
    )
    full = np.column_stack([images.reshape(len(images), -1), labels])
    np.testing.assert_array_equal(_sorted_rows(rows), _sorted_rows(full))


def test_digits_split_is_stratified():
    data = load_digits()
    train_frac = np.bincount(data.y_train.numpy(), minlength=10) / len(data.y_train)
    test_frac = np.bincount(data.y_test.numpy(), minlength=10) / len(data.y_test)
    np.testing.assert_allclose(train_frac, test_frac, atol=0.01)


def test_digits_reproducible_and_seeded():
    a, b = load_digits(), load_digits()
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    c = load_digits(random_state=1)
    assert not torch.equal(a.y_train, c.y_train)


def test_digits_flatten_false_is_reshaped_flatten_true():
    flat, img = load_digits(), load_digits(flatten=False)
    assert torch.equal(img.x_train.reshape(-1, 64), flat.x_train)
    assert torch.equal(img.y_test, flat.y_test)


@pytest.mark.parametrize("test_size, n_test", [(0.1, 180), (0.5, 899)])
def test_digits_test_size(test_size, n_test):
    data = load_digits(test_size=test_size)
    assert data.x_test.shape[0] == n_test
    assert data.x_train.shape[0] == 1797 - n_test


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5, float("nan"), 0.001, 0.999])
def test_digits_bad_test_size(test_size):
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=test_size)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"test_size": "0.2"}, TypeError),
        ({"test_size": True}, TypeError),
        ({"random_state": -1}, ValueError),
        ({"random_state": 2**32}, ValueError),
        ({"random_state": 1.5}, TypeError),
        ({"random_state": None}, TypeError),
        ({"flatten": "yes"}, TypeError),
    ],
)
def test_digits_bad_arguments(kwargs, error):
    with pytest.raises(error):
        load_digits(**kwargs)


def test_keyword_only():
    with pytest.raises(TypeError):
        load_digits(0.2)  # type: ignore[misc]
    with pytest.raises(TypeError):
        load_two_digits(100)  # type: ignore[misc]


def test_dataset_frozen_and_repr():
    data = load_digits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"  # type: ignore[misc]
    assert repr(data) == (
        "Dataset(name='digits', x_train=(1347, 64), y_train=(1347,), x_test=(450, 64), "
        "y_test=(450,), n_classes=10)"
    )


def test_dataset_validates_lengths():
    x, y = torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match="examples"):
        Dataset(x, y, x, y[:1].repeat(3), 2, "bad")


# --------------------------------------------------------------------------- two digits


@pytest.mark.parametrize("flatten", [True, False])
def test_two_digits_shapes_dtypes_ranges(flatten):
    data = load_two_digits(n_train=300, n_test=100, flatten=flatten)
    assert data.name == "two_digits"
    assert data.n_classes == 10
    assert data.n_heads == 2
    feature_shape = (128,) if flatten else (1, 8, 16)
    assert tuple(data.x_train.shape) == (300, *feature_shape)
    assert tuple(data.x_test.shape) == (100, *feature_shape)
    assert tuple(data.y_train.shape) == (300, 2)
    assert tuple(data.y_test.shape) == (100, 2)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0
    assert int(data.y_train.min()) >= 0 and int(data.y_train.max()) <= 9


def test_two_digits_defaults():
    data = load_two_digits()
    assert data.x_train.shape[0] == 6000 and data.x_test.shape[0] == 1500
    # Both heads see every class, and the two labels are (close to) independent.
    for h in (0, 1):
        assert set(data.y_train[:, h].tolist()) == set(range(10))
    assert abs(np.corrcoef(data.y_train.numpy().T)[0, 1]) < 0.05


def test_two_digits_labels_match_halves_and_no_leakage():
    digits = load_digits()  # the split two_digits draws from (same random_state)
    train_labels = _label_lookup(digits.x_train, digits.y_train)
    test_labels = _label_lookup(digits.x_test, digits.y_test)
    data = load_two_digits(n_train=500, n_test=200, flatten=False)
    for x, y, table in (
        (data.x_train, data.y_train, train_labels),
        (data.x_test, data.y_test, test_labels),
    ):
        images = x[:, 0].numpy()  # (n, 8, 16)
        for img, (left, right) in zip(images, y.tolist(), strict=True):
            # Each half is an image of the right split, and carries the target's label.
            assert left in table[np.ascontiguousarray(img[:, :8]).tobytes()]
            assert right in table[np.ascontiguousarray(img[:, 8:]).tobytes()]


def test_two_digits_flattening_is_row_major():
    flat = load_two_digits(n_train=50, n_test=10)
    img = load_two_digits(n_train=50, n_test=10, flatten=False)
    assert torch.equal(img.x_train.reshape(50, 128), flat.x_train)
    # Feature 16 * r + c is pixel (r, c): columns c < 8 are the left digit.
    left = flat.x_train.reshape(50, 8, 16)[:, :, :8]
    assert torch.equal(left, img.x_train[:, 0, :, :8])


def test_two_digits_reproducible_and_seeded():
    a = load_two_digits(n_train=200, n_test=50)
    b = load_two_digits(n_train=200, n_test=50)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    c = load_two_digits(n_train=200, n_test=50, random_state=1)
    assert not torch.equal(a.y_train, c.y_train)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n_train": 0}, ValueError),
        ({"n_test": -5}, ValueError),
        ({"n_train": 10.5}, TypeError),
        ({"n_test": True}, TypeError),
        ({"random_state": -1}, ValueError),
        ({"flatten": None}, TypeError),
    ],
)
def test_two_digits_bad_arguments(kwargs, error):
    with pytest.raises(error):
        load_two_digits(**kwargs)
