"""Activation statistics kept on the model's device, against a dense float64 reference.

The device path (a float64 co-moment matrix in torch, reaching the host once) runs here
on the CPU through torch tensors, so that it is tested on every machine; the tests
marked ``cuda`` repeat the comparison on a GPU where there is one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nngraph.graphs._recording as recording
from nngraph.graphs._activation_graph import activation_graph, unit_correlations
from nngraph.graphs._activation_sink import ActivationSink
from nngraph.graphs._correlation import CorrelationAccumulator
from nngraph.graphs._device_correlation import DeviceCorrelationAccumulator

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

UNEVEN = [1, 37, 256, 3, 500, 203, 1, 99]  # 1,100 rows in batches of uneven size


def _reference(x: np.ndarray) -> np.ndarray:
    """Dense float64 Pearson correlation: centre first, then normalise (two passes)."""
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc
    d = np.sqrt(np.diag(cov))
    return cov / np.outer(d, d)


def _offset_data(rng: np.random.Generator, n_rows: int = 1100, n: int = 30) -> np.ndarray:
    """Correlated features of unit spread around 1e3 (the activations' offset)."""
    z = rng.normal(size=(n_rows, 8)) @ rng.normal(size=(8, n)) + rng.normal(size=(n_rows, n))
    return z + 1e3 * (1 + rng.uniform(size=n))


def _naive_float32(x: np.ndarray) -> np.ndarray:
    """One-pass raw sums in float32, the failure the streaming merge avoids."""
    x32 = x.astype(np.float32)
    n = np.float32(x.shape[0])
    mean = x32.sum(axis=0) / n
    cov = (x32.T @ x32) / n - np.outer(mean, mean)
    d = np.sqrt(np.abs(np.diag(cov)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.outer(d, d)


def _feed(acc, x, sizes) -> None:
    start = 0
    for s in sizes:
        acc.update(torch.from_numpy(x[start : start + s]))
        start += s
    assert start == x.shape[0]


@pytest.mark.parametrize("chunk_rows", [None, 300])
def test_device_accumulator_matches_the_dense_reference(rng, chunk_rows):
    x = _offset_data(rng)
    ref = _reference(x)
    # The data are a real test: naive float32 sums lose the correlations entirely.
    assert np.nanmax(np.abs(_naive_float32(x) - ref)) > 1e-2
    acc = DeviceCorrelationAccumulator(x.shape[1], "cpu")
    if chunk_rows is not None:  # merges between buffered chunks and big batches
        acc._chunk_rows = chunk_rows
    _feed(acc, x, UNEVEN)
    assert acc.n_samples == x.shape[0]
    host = acc.to_host()
    np.testing.assert_allclose(host.correlation(), ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(host.mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(host.variance(), x.var(axis=0), rtol=1e-10)
    cpu = CorrelationAccumulator(x.shape[1])
    for batch in np.split(x, np.cumsum(UNEVEN)[:-1]):
        cpu.update(batch)
    np.testing.assert_allclose(host.correlation(), cpu.correlation(), rtol=0, atol=1e-13)


def test_device_accumulator_keeps_its_own_copy_of_a_buffered_batch(rng):
    x = _offset_data(rng, n_rows=60, n=5)
    acc = DeviceCorrelationAccumulator(5, "cpu")
    batch = torch.from_numpy(x.copy())  # float64 on the device: no conversion copies it
    acc.update(batch)
    batch.zero_()  # the caller reuses its buffer
    np.testing.assert_allclose(acc.to_host().correlation(), _reference(x), atol=1e-12)


def test_device_accumulator_checks_its_batches():
    acc = DeviceCorrelationAccumulator(3, "cpu")
    with pytest.raises(ValueError, match="shape"):
        acc.update(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        acc.update(torch.tensor([[1.0, float("nan"), 0.0]]))
    acc.update(torch.zeros(0, 3))
    assert acc.n_samples == 0
    with pytest.raises(ValueError, match="n_features"):
        DeviceCorrelationAccumulator(0, "cpu")


def test_from_moments_checks_the_shape():
    with pytest.raises(ValueError, match="shape"):
        CorrelationAccumulator.from_moments(5, np.zeros(3), np.zeros((2, 2)))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("knn", [False, True])
def test_sink_takes_device_tensors(rng, method, knn):
    x = _offset_data(rng, n_rows=400, n=12)
    x[:, 3] = 5.0  # a dead unit
    sinks = [
        ActivationSink(
            [5, 7],
            method=method,
            knn=knn,
            budget=2**26,
            graph_bytes=0,
            model_dtype=torch.float64,
        )
        for _ in range(2)
    ]
    for batch in np.split(x, [50, 51, 300]):
        sinks[0].update(batch)
        sinks[1].update(torch.from_numpy(batch))
    host, device = (
        [s.knn(3, "square", "exact", 0)[:2] for s in sinks]
        if knn
        else [s.dense("square", None) for s in sinks]
    )
    np.testing.assert_array_equal(host[1], device[1])
    assert host[1].tolist() == [i == 3 for i in range(12)]
    np.testing.assert_allclose(host[0].toarray(), device[0].toarray(), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ the whole pass
class _Offset(nn.Module):
    """An MLP and a CNN branch whose units sit around 1e3 (large biases), in float64."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.fc1 = nn.Linear(6 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        c = self.bn(self.conv(x))
        h = self.fc1(torch.flatten(F.relu(c), 1))
        return self.fc2(h - 1e3)

    def by_hand(self, x):
        c = self.bn(self.conv(x))
        h = self.fc1(torch.flatten(F.relu(c), 1))
        return [c.mean((2, 3)), h, self.fc2(h - 1e3)]


def _offset_model(rng) -> _Offset:
    model = _Offset().double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(scale=0.3, size=tuple(p.shape))))
        model.conv.bias += 1e3
        model.fc1.bias += 1e3
        model.bn.running_mean.copy_(torch.from_numpy(rng.normal(size=6)))
        model.bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, 6)))
    return model.eval()


def _batches(rng, sizes=UNEVEN) -> list[torch.Tensor]:
    return [torch.from_numpy(rng.normal(size=(s, 2, 4, 4))) for s in sizes]


def test_device_path_equals_the_host_path_and_the_reference(rng, monkeypatch):
    model = _offset_model(rng)
    batches = _batches(rng)
    with torch.no_grad():
        acts = torch.cat([torch.cat(model.by_hand(b), dim=1) for b in batches]).numpy()
    ref = _reference(acts)
    assert acts.mean() > 100  # the units carry the offset
    host, dead = unit_correlations(model, batches)
    assert not dead.any()
    np.testing.assert_allclose(host, ref, rtol=0, atol=1e-10)

    monkeypatch.setattr(recording, "statistics_on_device", lambda device: True)
    device, dead_device = unit_correlations(model, batches)
    np.testing.assert_array_equal(dead_device, dead)
    np.testing.assert_allclose(device, ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(device, host, rtol=0, atol=1e-12)
    graph = activation_graph(model, batches, transform="abs")
    np.testing.assert_allclose(
        graph.adjacency.toarray(), np.abs(host - np.eye(len(host))), atol=1e-12
    )


def test_device_path_names_the_layer_with_nan(rng, monkeypatch):
    monkeypatch.setattr(recording, "statistics_on_device", lambda device: True)
    model = _offset_model(rng)
    batches = _batches(rng, [4, 4])
    batches[1][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"layer 'conv' contain NaN, first in batch 1"):
        unit_correlations(model, batches)


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_statistics_equal_the_cpu_ones(rng, dtype):
    model = _offset_model(rng).to(dtype)
    batches = [b.to(dtype) for b in _batches(rng)]
    host, dead = unit_correlations(model, batches)
    gpu, dead_gpu = unit_correlations(model.cuda(), batches)
    np.testing.assert_array_equal(dead_gpu, dead)
    tol = 1e-10 if dtype == torch.float64 else 1e-3  # float32 forward passes round apart
    np.testing.assert_allclose(gpu, host, rtol=0, atol=tol)
