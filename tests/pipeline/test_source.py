"""A network of one's own: ``package.module:function`` and the data forms accepted."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nngraph.datasets import Dataset
from nngraph.pipeline import as_dataset, load_source

MODULE = """
import torch

def build(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    x = torch.randn(40, 5)
    y = torch.arange(40) % 3
    return model, (x[:30], y[:30], x[30:], y[30:]), {{"note": "{note}"}}

def no_data():
    return torch.nn.Linear(2, 2)

def not_a_model():
    return "model", None
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_net_mod.py").write_text(textwrap.dedent(MODULE.format(note="hello")))
    monkeypatch.chdir(tmp_path)
    yield "user_net_mod"
    import sys

    sys.modules.pop("user_net_mod", None)


def test_a_function_in_the_current_folder_is_loaded(user_module):
    model, data, info = load_source(f"{user_module}:build", seed=3)
    assert isinstance(model, torch.nn.Module) and isinstance(data, Dataset)
    assert data.x_train.shape == (30, 5) and data.n_classes == 3
    assert info == {
        "name": f"{user_module}:build",
        "source": f"{user_module}:build",
        "note": "hello",
    }
    again, _, _ = load_source(f"{user_module}:build", seed=3)
    assert torch.equal(model[0].weight, again[0].weight)  # the seed is passed


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("nomodule", ValueError, "expected 'package.module:function'"),
        ("user_net_mod:", ValueError, "expected 'package.module:function'"),
        ("no_such_module_xyz:build", ImportError, "no module named 'no_such_module_xyz'"),
        ("user_net_mod:missing", ValueError, "has no function 'missing'"),
        ("user_net_mod.py:build", ValueError, "not a file path: 'user_net_mod:build' from the"),
        ("nets/user_net_mod:build", ValueError, "not a file path: 'user_net_mod:build'"),
        ("user_net_mod:no_data", ValueError, r"must return \(model, data\)"),
        ("user_net_mod:not_a_model", ValueError, "must be a torch.nn.Module"),
    ],
)
def test_bad_sources_say_what_is_wrong(user_module, spec, error, message):
    with pytest.raises(error, match=message):
        load_source(spec)


def _arrays(rng):
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.integers(0, 4, 20)
    y[:4] = np.arange(4)
    return x, y


def test_tuple_dict_and_loaders_give_the_same_dataset(rng):
    x, y = _arrays(rng)
    a = as_dataset((x[:15], y[:15], x[15:], y[15:]))
    b = as_dataset({"x_train": x[:15], "y_train": y[:15], "x_test": x[15:], "y_test": y[15:]})
    loaders = tuple(
        DataLoader(TensorDataset(torch.from_numpy(x[s]), torch.from_numpy(y[s])), batch_size=4)
        for s in (slice(0, 15), slice(15, 20))
    )
    c = as_dataset(loaders)
    for d in (a, b, c):
        assert torch.equal(d.x_train, torch.from_numpy(x[:15]))
        assert torch.equal(d.y_test, torch.from_numpy(y[15:]))
        assert d.n_classes == 4 and d.y_train.dtype == torch.int64


def test_a_dict_may_give_classes_and_image_shape(rng):
    x, y = _arrays(rng)
    d = as_dataset(
        {
            "x_train": x,
            "y_train": y,
            "x_test": x,
            "y_test": y,
            "n_classes": 10,
            "image_shape": [2, 2],
        }
    )
    assert d.n_classes == 10 and d.image_shape == (2, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (42, "expected a Dataset"),
        ({"x_train": 1}, "lacks"),
        ((np.zeros((3, 2)), np.zeros(3), np.zeros((2, 2)), np.zeros(2)), "integer class indices"),
        ((np.zeros((3, 2)), np.zeros(4, int), np.zeros((2, 2)), np.zeros(2, int)), "3 examples"),
        (([], []), "yielded no batch"),
        ((np.zeros((3, 2)), np.zeros(3, int)), "two arrays; the data need a test split too"),
    ],
)
def test_bad_data_is_refused(data, message):
    with pytest.raises(ValueError, match=message):
        as_dataset(data, where="mine")
