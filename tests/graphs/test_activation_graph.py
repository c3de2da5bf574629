"""Activation graphs against correlations of activations recorded by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import nngraph as ng
from nngraph.graphs._activation_graph import activation_graph


def _init(model: nn.Module, rng: np.random.Generator, scale: float = 0.5) -> nn.Module:
    """Set every parameter and batch-norm statistic from the seeded generator."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(scale=scale, size=tuple(p.shape))))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.from_numpy(rng.normal(size=m.num_features)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, m.num_features)))
    return model


def _tensor(rng: np.random.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.from_numpy(rng.normal(size=shape)).to(dtype)


def _reference(acts: list[torch.Tensor], transform: str = "square") -> np.ndarray:
    a = torch.cat([t.detach().double() for t in acts], dim=1).numpy()
    r = np.corrcoef(a - a.mean(axis=0), rowvar=False)
    w = r**2 if transform == "square" else np.abs(r)
    np.fill_diagonal(w, 0)
    return w


def _mlp(rng, dtype=torch.float32) -> nn.Sequential:
    model = nn.Sequential(
        nn.Linear(6, 10), nn.ReLU(), nn.Dropout(0.3), nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 3)
    )
    return _init(model.to(dtype), rng)


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 5, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(5)
        self.conv2 = nn.Conv2d(5, 4, 3)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = self.conv2(x).relu()
        return self.fc(torch.flatten(x, 1))

    def by_hand(self, x, activation="pre", spatial="mean", fold=True):
        """Activations of conv1 (after bn1), conv2 and fc, computed without hooks."""
        c1 = self.bn1(self.conv1(x)) if fold else self.conv1(x)
        c2 = self.conv2(F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2))
        out = self.fc(torch.flatten(c2.relu(), 1))
        if activation == "post":
            c1, c2 = F.relu(c1), c2.relu()
        summary = (
            (lambda t: t.abs().mean((2, 3)))
            if spatial == "mean_abs"
            else (lambda t: t.mean((2, 3)))
        )
        return [summary(c1), summary(c2), out]


def _cnn(rng) -> _CNN:
    return _init(_CNN(), rng).eval()


# ---------------------------------------------------------------------- exactness
@pytest.mark.parametrize("activation", ["pre", "post"])
def test_mlp_matches_corrcoef(rng, activation):
    model = _mlp(rng)
    x = _tensor(rng, 300, 6)
    g = activation_graph(model, x, activation=activation, include_input=True, batch_size=64)
    with torch.no_grad():
        h1 = model[0](x)
        h2 = model[3](torch.relu(h1))
        out = model[5](torch.tanh(h2))
    acts = [x, h1, h2, out] if activation == "pre" else [x, h1.relu(), h2.tanh(), out]
    np.testing.assert_allclose(g.adjacency.toarray(), _reference(acts), atol=1e-6)
    assert g.layer_names == ["input", "0", "3", "5"]
    assert g.kind == "activation" and g.meta["n_examples"] == 300
    expected = [None, "ReLU", "Tanh", "identity"] if activation == "post" else [None] * 4
    assert [layer["activation"] for layer in g.meta["layers"]] == expected


def test_flattening_mlp_records_input_per_pixel(rng):
    # The tracer gives an image input read only through a flatten one unit per pixel.
    model = _init(nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU(), nn.Linear(5, 3)), rng)
    x = _tensor(rng, 200, 1, 4, 4)
    g = activation_graph(model, x, include_input=True, batch_size=64)
    with torch.no_grad():
        h = model[1](x.flatten(1))
        out = model[3](torch.relu(h))
    np.testing.assert_allclose(g.adjacency.toarray(), _reference([x.flatten(1), h, out]), atol=1e-6)


@pytest.mark.parametrize(
    ("activation", "spatial", "fold"),
    [("pre", "mean", True), ("post", "mean_abs", True), ("pre", "mean_abs", False)],
)
def test_cnn_matches_corrcoef(rng, activation, spatial, fold):
    model = _cnn(rng)
    x = _tensor(rng, 120, 2, 8, 8)
    g = activation_graph(
        model, x, activation=activation, spatial=spatial, fold_batchnorm=fold, batch_size=50
    )
    with torch.no_grad():
        acts = model.by_hand(x, activation, spatial, fold)
    np.testing.assert_allclose(g.adjacency.toarray(), _reference(acts), atol=1e-6)
    assert g.layer_names == ["conv1", "conv2", "fc"]
    layer0 = g.meta["layers"][0]
    assert layer0["normalized_by"] == (["bn1"] if fold else [])
    assert layer0["recorded_at"] == ("bn1" if fold else "conv1")


def test_spearman_and_abs_transform(rng):
    model = _mlp(rng)
    x = _tensor(rng, 200, 6)
    with torch.no_grad():
        h1 = model[0](x)
        h2 = model[3](torch.relu(h1))
        out = model[5](torch.tanh(h2))
    a = torch.cat([h1, h2, out], 1).double().numpy()
    rho = scipy.stats.spearmanr(a).statistic
    np.fill_diagonal(rho, 0)
    g = activation_graph(model, x, method="spearman", transform="abs", batch_size=32)
    np.testing.assert_allclose(g.adjacency.toarray(), np.abs(rho), atol=1e-10)


def test_batch_size_independence(rng):
    model = _mlp(rng, torch.float64)
    x = _tensor(rng, 257, 6, dtype=torch.float64)
    y = torch.zeros(257, dtype=torch.long)
    ref = activation_graph(model, x, batch_size=257).adjacency.toarray()
    loaders = [
        DataLoader(TensorDataset(x, y), batch_size=7),
        [x[:1], x[1:100], x[100:]],
        (list(b) for b in DataLoader(TensorDataset(x, y), batch_size=64)),
    ]
    for inputs in loaders:
        a = activation_graph(model, inputs).adjacency.toarray()
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-10)
    a = activation_graph(model, x.numpy(), batch_size=3).adjacency.toarray()
    np.testing.assert_allclose(a, ref, rtol=0, atol=1e-10)


class _Squeezing(nn.Module):
    """Squeezes after global pooling: with one example the batch dimension would go too."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).squeeze())


class _FixedBatch(nn.Module):
    """Written for one batch size: runs on 40 examples at a time, on no other number."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 7)
        self.b = nn.Linear(7, 3)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)).view(40, 7))


def test_models_written_for_their_batches_are_traced(rng):
    """The shapes come from two examples, or the whole first batch when those fail."""
    torch.manual_seed(0)
    x = _tensor(rng, 120, 3, 8, 8)
    g = activation_graph(_Squeezing(), x, batch_size=60)
    assert g.n_nodes == 10 and g.layer_names == ["conv", "fc"]
    x = _tensor(rng, 120, 5)
    model = _FixedBatch()
    g = activation_graph(model, x, batch_size=40)
    with torch.no_grad():
        a = model.a(x)
        ref = _reference([a, model.b(torch.relu(a))])
    np.testing.assert_allclose(g.adjacency.toarray(), ref, atol=1e-6)


def test_large_offset(rng):
    # Activations ~ 1e6 + N(0, 1): a float64 network with a huge bias.
    model = _init(nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 4)).double(), rng)
    with torch.no_grad():
        model[0].bias.fill_(1e6)
    x = _tensor(rng, 400, 5, dtype=torch.float64)
    with torch.no_grad():
        h = model[0](x)
        out = model[2](torch.relu(h))
    assert h.mean() > 9e5
    g = activation_graph(model, DataLoader(TensorDataset(x), batch_size=33))
    np.testing.assert_allclose(g.adjacency.toarray(), _reference([h, out]), atol=1e-9)
    k = activation_graph(model, x, n_neighbors=3, knn_method="exact")
    dense = g.adjacency.toarray()
    np.testing.assert_allclose(
        k.adjacency.toarray()[k.adjacency.toarray() > 0],
        dense[k.adjacency.toarray() > 0],
        atol=1e-5,
    )


def test_dead_units(rng):
    model = _mlp(rng)
    with torch.no_grad():
        model[0].weight[2].zero_()  # constant pre-activation (its bias)
        model[3].weight[[1, 4]] = 0.0
        model[3].bias[[1, 4]] = torch.tensor([0.0, -3.0])
    x = _tensor(rng, 100, 6)
    for kwargs in ({}, {"n_neighbors": 3}, {"method": "spearman"}, {"threshold": 0.0}):
        g = activation_graph(model, x, **kwargs)
        assert g.meta["dead_units"] == [2, 11, 14], kwargs
        deg = g.degree
        assert np.all(deg[[2, 11, 14]] == 0)
        assert np.all(np.isfinite(g.adjacency.data))
        assert (deg > 0).sum() == g.n_nodes - 3
    # A ReLU unit that never fires is dead after the activation only.
    with torch.no_grad():
        model[0].bias[5] = -100.0
    assert 5 in activation_graph(model, x, activation="post").meta["dead_units"]
    assert 5 not in activation_graph(model, x).meta["dead_units"]


def test_input_units_are_dead_only_when_constant(rng):
    # The input holds the data, not computed values: a small feature beside columns
    # 1e7 times larger varies, and is a unit with edges; a constant column is dead.
    model = _mlp(rng)
    x = _tensor(rng, 200, 6)
    x[:, :4] = x[:, :4] * 2e4 + 1e5  # money-like columns
    x[:, 4] = x[:, 4] * 0.01 + 0.05  # a rate
    x[:, 5] = 0.25  # constant
    g = activation_graph(model, x, include_input=True)
    assert g.meta["dead_units"] == [5]
    inputs = g.layer_nodes("input")
    assert g.degree[inputs[4]] > 0
    acts = [x]
    with torch.no_grad():
        acts.append(model[0](x))
        acts.append(model[3](model[1](model[0](x))))
    want = _reference(acts)[:16, :16]
    got = g.adjacency.toarray()[:16, :16]
    live = np.ones(16, bool)
    live[5] = False
    np.testing.assert_allclose(got[np.ix_(live, live)], want[np.ix_(live, live)], atol=1e-6)


class _ShiftsItsInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x.sub_(0.5)  # in place, on the caller's tensor
        return self.fc(x)


def test_the_input_is_read_before_a_forward_changes_it(rng):
    model = _init(_ShiftsItsInput(), rng)
    x = _tensor(rng, 50, 6) * 3
    before = x.clone()
    g = activation_graph(model, x, include_input=True)
    assert torch.equal(x, before)  # the data are left as they were
    with torch.no_grad():
        hidden = model.fc(before - 0.5)
    np.testing.assert_allclose(g.adjacency.toarray(), _reference([before, hidden]), atol=1e-6)


@pytest.mark.parametrize("name", ["SpectralClustering", "Louvain", "Leiden", "LabelPropagation"])
def test_partitioners_leave_dead_units_out(rng, name):
    if not hasattr(ng, name):
        pytest.skip(f"nngraph.{name} is not available")
    model = _init(nn.Sequential(nn.Linear(6, 30), nn.ReLU(), nn.Linear(30, 8)), rng)
    with torch.no_grad():
        model[0].weight[:3] = 0.0
    g = activation_graph(model, _tensor(rng, 200, 6))
    assert g.meta["dead_units"] == [0, 1, 2]
    kwargs = {"n_clusters": 3} if name == "SpectralClustering" else {}
    labels = getattr(ng, name)(random_state=0, **kwargs).fit(g).labels_
    assert np.all(labels[:3] == -1) and np.all(labels[3:] >= 0)


def test_all_units_dead(rng):
    model = _mlp(rng)
    x = torch.ones(20, 6)  # every example the same: every unit constant
    for kwargs in ({}, {"n_neighbors": 3}, {"n_neighbors": 3, "method": "spearman"}):
        g = activation_graph(model, x, **kwargs)
        assert g.n_edges == 0 and g.meta["dead_units"] == list(range(g.n_nodes))


# ---------------------------------------------------------------------- sparsification
def test_threshold_and_exact_knn(rng):
    model = _mlp(rng)
    x = _tensor(rng, 150, 6)
    dense = activation_graph(model, x).adjacency.toarray()
    t = activation_graph(model, x, threshold=0.2).adjacency.toarray()
    np.testing.assert_allclose(t, np.where(dense >= 0.2, dense, 0), atol=1e-15)
    k = 4
    g = activation_graph(model, x, n_neighbors=k, knn_method="exact")
    assert g.meta["knn_method"] == "exact"
    a = g.adjacency.toarray()
    expected = np.zeros_like(dense)
    for i, row in enumerate(dense):
        top = np.argsort(-row)[:k]
        expected[i, top] = row[top]
    expected = np.maximum(expected, expected.T)
    np.testing.assert_allclose(a, expected, atol=1e-5)


@pytest.mark.slow  # pynndescent compiles for ~20 s in every new process
def test_nndescent_recall(rng):
    # Units with correlation structure: a wide layer reading a low-rank input.
    model = _init(nn.Sequential(nn.Linear(12, 600), nn.ReLU(), nn.Linear(600, 300)), rng)
    x = torch.from_numpy(rng.normal(size=(400, 4)) @ rng.normal(size=(4, 12))).float()
    x += 0.3 * _tensor(rng, 400, 12)
    k = 10
    g = activation_graph(model, x, n_neighbors=k, knn_method="nndescent", random_state=0)
    assert g.meta["knn_method"] == "nndescent"
    dense = activation_graph(model, x).adjacency
    recall = []
    for i in range(0, g.n_nodes, 3):
        exact = dense[[i]].toarray().ravel()
        top = set(np.argsort(-exact)[:k])
        row = g.adjacency[[i]].toarray().ravel()
        found = set(np.argsort(-row)[:k])
        recall.append(len(top & found) / k)
        nz = row > 0
        np.testing.assert_allclose(row[nz], exact[nz], atol=1e-5)
    assert np.mean(recall) >= 0.9
    again = activation_graph(model, x, n_neighbors=k, knn_method="nndescent", random_state=0)
    assert (again.adjacency != g.adjacency).nnz == 0


# ---------------------------------------------------------------------- consistency
class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(self.bn(self.a(h)) + h)
        return self.head(h.mean((2, 3)))


@pytest.mark.parametrize("include_input", [True, False])
@pytest.mark.parametrize("include_output", [True, False])
def test_same_units_as_weight_graph(rng, include_input, include_output):
    for model, x in (
        (_mlp(rng), _tensor(rng, 20, 6)),
        (_cnn(rng), _tensor(rng, 20, 2, 8, 8)),
        (_init(_Residual(), rng), _tensor(rng, 20, 3, 6, 6)),
        # an MLP that flattens images: one input unit per pixel, as in weight_graph
        (
            _init(nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU(), nn.Linear(5, 3)), rng),
            _tensor(rng, 50, 1, 4, 4),
        ),
    ):
        opts = {"include_input": include_input, "include_output": include_output}
        wg = ng.weight_graph(model, x[:1], **opts)
        ag = activation_graph(model, x, **opts)
        assert ag.layer_names == wg.layer_names
        np.testing.assert_array_equal(ag.node_layer, wg.node_layer)
        np.testing.assert_array_equal(ag.node_unit, wg.node_unit)


def test_post_activation_needs_an_elementwise_activation(rng):
    model = _init(_Residual(), rng)
    x = _tensor(rng, 20, 3, 6, 6)
    with pytest.raises(ng.UnsupportedModelError, match="'a'.*add.*activation='pre'"):
        activation_graph(model, x, activation="post")
    assert activation_graph(model, x).meta["layers"][1]["recorded_at"] == "bn"


def _state(model: nn.Module):
    return (
        [m.training for m in model.modules()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def test_model_state_unchanged(rng):
    model = _cnn(rng).train()
    model.conv2.eval()  # mixed modes must come back exactly
    modes, params = _state(model)
    x = _tensor(rng, 40, 2, 8, 8)
    activation_graph(model, x, activation="post")
    bad = x.clone()
    bad[25, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        activation_graph(model, bad, batch_size=10)
    new_modes, new_params = _state(model)
    assert new_modes == modes
    for k, v in params.items():
        assert torch.equal(v, new_params[k]), k
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------- bad input
def test_bad_inputs(rng):
    model = _mlp(rng)
    x = _tensor(rng, 30, 6)
    with pytest.raises(ValueError, match="empty"):
        activation_graph(model, x[:0])
    with pytest.raises(ValueError, match="empty"):
        activation_graph(model, [])
    with pytest.raises(ValueError, match="empty"):
        activation_graph(model, DataLoader(TensorDataset(x[:0]), batch_size=4))
    with pytest.raises(ValueError, match="at least 2 examples"):
        activation_graph(model, x[:1])
    with pytest.raises(ValueError, match="first batch.*shape \\(30, 5\\)"):
        activation_graph(model, _tensor(rng, 30, 5))
    with pytest.raises(ValueError, match="batch 1 .*shape \\(4, 7\\)"):
        activation_graph(model, [x, _tensor(rng, 4, 7)])
    with pytest.raises(ValueError, match="batch dimension"):
        activation_graph(model, x[0])
    with pytest.raises(TypeError, match="iterable"):
        activation_graph(model, 3.0)
    with pytest.raises(TypeError, match="batch 0 of inputs must be a torch.Tensor"):
        activation_graph(model, [["not a tensor"]])


def test_nan_names_layer_and_batch(rng):
    model = _mlp(rng)
    x = _tensor(rng, 40, 6)
    x[23, 2] = float("nan")
    with pytest.raises(ValueError, match="layer '0' .*NaN.*batch 2 "):
        activation_graph(model, x, batch_size=10)
    with pytest.raises(ValueError, match="layer 'input' .*batch 1 "):
        activation_graph(model, x, batch_size=20, include_input=True)


def test_bad_options_and_memory_budget(rng):
    model = _mlp(rng)
    x = _tensor(rng, 30, 6)
    for kwargs, match in (
        ({"method": "kendall"}, "method"),
        ({"transform": "cube"}, "transform"),
        ({"activation": "mid"}, "activation"),
        ({"spatial": "max"}, "spatial"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": 0.1, "n_neighbors": 3}, "not both"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_memory": "lots"}, "max_memory"),
    ):
        with pytest.raises(ValueError, match=match):
            activation_graph(model, x, **kwargs)
    with pytest.raises(ValueError, match="n_neighbors=k"):
        activation_graph(model, x, max_memory=1000)
    with pytest.raises(ValueError, match="Spearman.*max_memory"):
        activation_graph(model, x, method="spearman", max_memory="10kB")
    with pytest.raises(ValueError, match="n_neighbors holds"):
        activation_graph(model, x, n_neighbors=2, max_memory=2000)
    assert activation_graph(model, x, n_neighbors=2, max_memory="1 MiB").n_nodes == 21


def test_save_load_roundtrip(rng, tmp_path):
    model = _mlp(rng)
    g = activation_graph(copy.deepcopy(model), _tensor(rng, 50, 6), n_neighbors=3)
    h = ng.NeuronGraph.load(g.save(tmp_path / "act"))
    assert h.meta == g.meta and h.kind == "activation"
    assert (h.adjacency != g.adjacency).nnz == 0


def test_max_memory_units_and_option_types(rng):
    from nngraph.graphs._byte_sizes import parse_bytes

    assert parse_bytes("max_memory", "1.5 KiB") == 1536
    assert parse_bytes("max_memory", "2GB") == 2e9
    assert parse_bytes("max_memory", " 3 mib ") == 3 * 2**20
    assert parse_bytes("max_memory", 10) == 10.0
    for bad in (0, -1, float("nan"), True, "2 GiBs", "-1GB", None):
        with pytest.raises(ValueError, match="max_memory must be"):
            parse_bytes("max_memory", bad)
    model = _mlp(rng)
    x = _tensor(rng, 30, 6)
    # Option errors are InvalidParameterError: a ValueError and a TypeError alike.
    for kwargs, match in (
        ({"include_input": "yes"}, "include_input must be True or False"),
        ({"n_neighbors": 2.5}, "n_neighbors must be an integer >= 1"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"batch_size": True}, "batch_size must be an integer >= 1"),
    ):
        with pytest.raises(TypeError, match=match):
            activation_graph(model, x, **kwargs)
    g = activation_graph(model, x, n_neighbors=np.int64(3), include_input=np.bool_(True))
    assert g.meta["options"]["n_neighbors"] == 3 and g.meta["options"]["include_input"] is True
