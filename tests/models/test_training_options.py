"""Pruning, L1/L2 and the clusterability regulariser of :func:`nngraph.models.train`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.datasets import Dataset, load_digits
from nngraph.models import (
    ClusterabilityPenalty,
    MagnitudePruner,
    _training,
    mlp,
    pretrained,
    small_cnn,
    spectral_clusterability,
    train,
)
from nngraph.models._pruning import polynomial_sparsity
from nngraph.models._regularizers import weight_penalty


@pytest.fixture(scope="module")
def digits() -> Dataset:
    data = load_digits()
    return Dataset(
        data.x_train[:400], data.y_train[:400], data.x_test[:150], data.y_test[:150], 10, "digits"
    )


def _zeros(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: (m.weight == 0) for n, m in model.named_modules() if isinstance(m, nn.Linear)}


# --------------------------------------------------------------------------- pruning


def test_polynomial_schedule_rises_from_start_to_final():
    values = [polynomial_sparsity(t, 100, start=0.5, final=0.9) for t in range(0, 120, 10)]
    assert values[0] == 0.5 and values[-1] == values[-2] == 0.9
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    # cubic: most of the rise comes early
    assert polynomial_sparsity(50, 100, start=0.5, final=0.9) == pytest.approx(0.85)


def test_pruning_reaches_the_sparsity_and_keeps_pruned_weights_at_zero(digits, monkeypatch):
    seen: list[dict[str, torch.Tensor]] = []

    class Watching(MagnitudePruner):
        def apply(self):
            super().apply()
            now = {n: (w == 0) for n, w in self._weights}
            if seen:  # every weight pruned before is still exactly zero
                for name, before in seen[-1].items():
                    assert bool(now[name][before].all()), name
            seen.append(now)

    monkeypatch.setattr(_training, "MagnitudePruner", Watching)
    model = mlp(hidden=(32, 32))
    history = train(
        model, digits, epochs=2, prune=0.8, prune_epochs=3, random_state=0, progress=False
    )
    steps = 3 * int(np.ceil(400 / 128))
    assert len(seen) == steps
    for name, zero in _zeros(model).items():
        assert zero.double().mean().item() == pytest.approx(0.8, abs=1e-3), name
    assert history["sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert len(history["train_loss"]) == 2 + 3 and history["prune_epochs"] == 3
    # the schedule starts at 50%: after the first step of fine-tuning, half is pruned
    first = seen[0]
    assert all(z.double().mean().item() == pytest.approx(0.5, abs=1e-2) for z in first.values())


def test_pruner_masks_smallest_magnitudes_deterministically():
    layer = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        layer[0].weight.copy_(torch.tensor([[0.1, -3.0, 0.2], [0.2, 1.0, -0.05]]))
    pruner = MagnitudePruner(layer)
    pruner.update(0.5)
    # the three smallest: 0.05, 0.1 and the first of the two 0.2 (ties go by position)
    assert (layer[0].weight == 0).tolist() == [[True, False, True], [False, False, True]]
    with torch.no_grad():
        layer[0].weight.add_(1.0)  # an optimiser step moves pruned weights...
    pruner.apply()  # ...and they are zero again
    assert (layer[0].weight == 0).sum().item() == 3
    with pytest.raises(ValueError, match="nothing to prune"):
        MagnitudePruner(nn.Sequential(nn.ReLU()))


def test_pruned_units_are_isolated_and_labelled_minus_one():
    torch.manual_seed(0)
    model = mlp(8, (6, 6), 3)
    with torch.no_grad():  # unit 2 of the first hidden layer loses every edge
        model[0].weight[2] = 0
        model[2].weight[:, 2] = 0
    g = ng.weight_graph(model, torch.zeros(1, 8))
    node = np.flatnonzero((g.node_layer == 1) & (g.node_unit == 2))[0]
    assert g.degree[node] == 0
    for est in (
        ng.SpectralClustering(3, random_state=0),
        ng.Louvain(random_state=0),
        ng.Leiden(random_state=0),
        ng.LabelPropagation(random_state=0),
    ):
        labels = est.fit(g).labels_
        assert labels[node] == -1, type(est).__name__
        assert (np.delete(labels, node) >= 0).all(), type(est).__name__
    part = ng.Partition(ng.SpectralClustering(3, random_state=0).fit(g).labels_, g)
    assert part.layer_labels["0"][2] == -1


def test_a_pruned_network_has_isolated_units(digits):
    model = mlp(hidden=(32, 32))
    train(model, digits, epochs=1, prune=0.95, prune_epochs=2, progress=False)
    g = ng.weight_graph(model, digits.x_train[:1])
    labels = ng.SpectralClustering(4, random_state=0).fit(g).labels_
    isolated = g.degree == 0
    assert isolated.any()
    assert (labels[isolated] == -1).all() and (labels[~isolated] >= 0).all()


# --------------------------------------------------------------------------- penalties


def test_weight_penalty_sums_weights_not_biases():
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))
        model[0].bias.fill_(100.0)
    assert weight_penalty(model, l1=1.0).item() == pytest.approx(6.0)
    assert weight_penalty(model, l2=0.5).item() == pytest.approx(7.0)


def test_l1_makes_weights_smaller(digits):
    plain, sparse = mlp(hidden=(16,)), mlp(hidden=(16,))
    train(plain, digits, epochs=10, progress=False)
    train(sparse, digits, epochs=10, l1=1e-2, progress=False)
    assert sparse[0].weight.abs().sum().item() < 0.7 * plain[0].weight.abs().sum().item()


def _dense_penalty(model: nn.Sequential, k: int) -> torch.Tensor:
    """Sum of the k smallest eigenvalues of L, through torch's eigvalsh (the oracle)."""
    blocks = [m.weight.abs().double() for m in model if isinstance(m, nn.Linear)]
    sizes = [blocks[0].shape[1]] + [b.shape[0] for b in blocks]
    offsets = np.cumsum([0] + sizes)
    n = int(offsets[-1])
    a = torch.zeros(n, n, dtype=torch.float64)
    for i, b in enumerate(blocks):
        pad = (
            int(offsets[i]),
            n - int(offsets[i + 1]),
            int(offsets[i + 1]),
            n - int(offsets[i + 2]),
        )
        a = a + nn.functional.pad(b, pad)
    a = a + a.T
    d = a.sum(1)
    lap = torch.eye(n, dtype=torch.float64) - a / torch.sqrt(d[:, None] * d[None, :])
    return torch.linalg.eigvalsh(lap)[:k].sum()


def test_penalty_value_and_gradient_match_the_eigenvalues():
    torch.manual_seed(1)
    model = mlp(6, (5, 4), 3)
    pen = ClusterabilityPenalty(model, n_clusters=3)
    value = pen.refresh()
    reference = _dense_penalty(model, 3)
    assert value == pytest.approx(reference.item(), abs=1e-10)
    g = ng.weight_graph(model, torch.zeros(1, 6))
    lap = np.eye(g.n_nodes) - g.adjacency.toarray() / np.sqrt(np.outer(g.degree, g.degree))
    assert value == pytest.approx(np.linalg.eigvalsh(lap)[:3].sum(), abs=1e-6)
    pen().backward()
    ours = [m.weight.grad.clone() for m in pen.linears]
    model.zero_grad()
    reference.backward()
    for mine, theirs in zip(ours, [m.weight.grad for m in pen.linears], strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=1e-5)


def test_balance_keeps_the_function():
    torch.manual_seed(2)
    model = mlp(6, (8, 8), 3)
    x = torch.randn(20, 6)
    before = model(x)
    pen = ClusterabilityPenalty(model)
    pen.balance()
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)
    norms = (model[0].weight.pow(2).sum(1) + model[0].bias.pow(2)).sqrt()
    torch.testing.assert_close(norms, torch.full_like(norms, 2**0.5))


def test_regulariser_lowers_the_ncut(digits):
    def fit(**options):
        model = mlp(hidden=(24, 24))
        train(model, digits, epochs=10, lr=1e-2, random_state=3, progress=False, **options)
        g = ng.weight_graph(model, digits.x_train[:1])
        labels = ng.SpectralClustering(4, random_state=0).fit(g).labels_
        return model, ng.ncut(g, labels)

    plain, ncut_plain = fit()
    regular, ncut_regular = fit(cluster_lambda=1.0, cluster_k=4, cluster_every=2)
    assert ncut_regular < ncut_plain - 0.3  # 1.94 against 2.48 (k = 4)
    assert spectral_clusterability(regular, 4) < spectral_clusterability(plain, 4)


def test_regulariser_refuses_what_is_not_an_mlp(digits):
    with pytest.raises(ValueError, match="multilayer perceptrons"):
        ClusterabilityPenalty(small_cnn())
    images = load_digits(flatten=False)
    with pytest.raises(ValueError, match="multilayer perceptrons"):
        train(small_cnn(), images, epochs=1, cluster_lambda=0.1, progress=False)


def test_training_with_every_option_is_deterministic(digits):
    options = {"prune": 0.7, "prune_epochs": 1, "l1": 1e-4, "cluster_lambda": 0.1}
    models = []
    for _ in range(2):
        model = mlp(hidden=(12,), dropout=0.3)
        train(model, digits, epochs=1, random_state=5, progress=False, **options)
        models.append(model)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"prune": 1.0}, ValueError),
        ({"prune": -0.1}, ValueError),
        ({"prune": 0.5, "prune_epochs": 0}, ValueError),
        ({"l1": -1.0}, ValueError),
        ({"cluster_lambda": 0.1, "cluster_k": 1}, ValueError),
        ({"prune_every": 0}, ValueError),
    ],
)
def test_bad_options(digits, kwargs, error):
    with pytest.raises(error):
        train(mlp(hidden=(4,)), digits, epochs=1, progress=False, **kwargs)


# --------------------------------------------------------------------------- cache key


def test_cache_key_changes_with_every_option(tmp_path):
    base = {"hidden": (4,), "epochs": 1}
    variants = {
        "plain": {},
        "dropout": {"dropout": 0.5},
        "weight_decay": {"weight_decay": 1e-3},
        "prune": {"prune": 0.9, "prune_epochs": 1},
        "prune_epochs": {"prune": 0.9, "prune_epochs": 2},
        "l1": {"l1": 1e-4},
        "l2": {"l2": 1e-4},
        "cluster_lambda": {"cluster_lambda": 0.1},
        "cluster_k": {"cluster_lambda": 0.1, "cluster_k": 3},
        "random_state": {"random_state": 1},
        "epochs": {"epochs": 2},
    }
    keys = {}
    for name, options in variants.items():
        pretrained("mlp", cache_dir=tmp_path, **{**base, **options})
        new = {p.name for p in tmp_path.glob("*.pt")} - set(keys.values())
        assert len(new) == 1, f"{name} did not get a checkpoint of its own"
        keys[name] = new.pop()
    # plain training keeps the key it had: the new options enter it only when used
    plain = json.loads((tmp_path / keys["plain"].replace(".pt", ".json")).read_text())
    assert set(plain["config"]["train"]) == {
        "epochs",
        "weight_decay",
        "lr",
        "batch_size",
        "random_state",
    }
    # and options that do nothing without pruning or the regulariser change nothing
    pretrained("mlp", cache_dir=tmp_path, prune_epochs=7, cluster_k=9, **base)
    assert len(list(tmp_path.glob("*.pt"))) == len(variants)
