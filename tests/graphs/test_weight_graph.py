"""Weight graphs: exact edge weights on hand-built networks, computed independently."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.models import resnet18, vgg


def _abs(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().abs().numpy()


def _dense(g: ng.NeuronGraph) -> np.ndarray:
    return g.adjacency.toarray()


def _block(g: ng.NeuronGraph, a: str, b: str) -> np.ndarray:
    """Rows: units of layer a; columns: units of layer b."""
    return _dense(g)[np.ix_(g.layer_nodes(a), g.layer_nodes(b))]


@pytest.fixture
def seeded():
    """Seed torch's default generator locally (module construction) and restore it."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def test_linear_chain_exact(seeded):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 3))
    g = ng.weight_graph(model, torch.zeros(2, 5))
    assert g.layer_names == ["input", "0", "3"]
    assert g.n_nodes == 12
    ref = np.zeros((12, 12))
    ref[5:9, 0:5] = _abs(model[0].weight)
    ref[9:12, 5:9] = _abs(model[3].weight)
    ref += ref.T
    np.testing.assert_allclose(_dense(g), ref, rtol=0, atol=0)
    assert g.layer_pairs.tolist() == [[0, 1], [1, 2]]
    assert g.meta["layers"][2]["is_output"] and not g.meta["layers"][1]["is_output"]


def test_include_input_output_options(seeded):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
    full = ng.weight_graph(model, torch.zeros(1, 5))
    hidden = ng.weight_graph(model, torch.zeros(1, 5), include_input=False, include_output=False)
    assert hidden.layer_names == ["0", "2"]
    nodes = np.r_[full.layer_nodes("0"), full.layer_nodes("2")]
    np.testing.assert_array_equal(_dense(hidden), _dense(full)[np.ix_(nodes, nodes)])
    assert hidden.layer_pairs.tolist() == [[0, 1]]


def test_conv_batchnorm_folding_l1_and_l2(seeded):
    conv = nn.Conv2d(2, 3, 3, padding=1)
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.running_var.uniform_(0.2, 3.0)
        bn.weight.uniform_(-2.0, 2.0)
    model = nn.Sequential(conv, bn, nn.ReLU(), nn.Conv2d(3, 2, 1))
    x = torch.zeros(1, 2, 6, 6)
    factor = _abs(bn.weight) / np.sqrt(bn.running_var.double().numpy() + bn.eps)
    w = conv.weight.detach().double().numpy()
    for reduction, reduce in (
        ("l1", lambda a: np.abs(a).sum(axis=(2, 3))),
        ("l2", lambda a: np.sqrt((a**2).sum(axis=(2, 3)))),
    ):
        g = ng.weight_graph(model, x, reduction=reduction)
        np.testing.assert_allclose(_block(g, "0", "input"), reduce(w) * factor[:, None], rtol=1e-12)
        w3 = model[3].weight.detach().double().numpy()
        np.testing.assert_allclose(_block(g, "3", "0"), reduce(w3), rtol=1e-12)
        assert g.meta["layers"][1]["normalized_by"] == ["1"]
    unfolded = ng.weight_graph(model, x, fold_batchnorm=False)
    np.testing.assert_allclose(_block(unfolded, "0", "input"), np.abs(w).sum(axis=(2, 3)))


def test_reference_code_defect_not_copied(seeded):
    """L1 is the entry-wise sum, not numpy's induced matrix 1-norm of the kernel slice."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3))
    g = ng.weight_graph(model, torch.zeros(1, 1, 5, 5))
    k = model[0].weight.detach().double().numpy()[0, 0]
    assert _block(g, "0", "input")[0, 0] == pytest.approx(np.abs(k).sum())
    assert _block(g, "0", "input")[0, 0] != pytest.approx(np.linalg.norm(k, 1))


class ConvFlattenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv(x)))
        return self.fc(h.view(h.size(0), -1))


@pytest.mark.parametrize("reduction", ["l1", "l2"])
def test_conv_flatten_linear_sums_spatial_positions(seeded, reduction):
    model = ConvFlattenLinear()
    g = ng.weight_graph(model, torch.zeros(1, 1, 8, 8), reduction=reduction)
    w = model.fc.weight.detach().double().numpy().reshape(5, 3, 16)
    expected = np.abs(w).sum(axis=2) if reduction == "l1" else np.sqrt((w**2).sum(axis=2))
    np.testing.assert_allclose(_block(g, "fc", "conv"), expected, rtol=1e-12)
    assert g.layer_sizes.tolist() == [1, 3, 5]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 3)
        self.fc3 = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h)) + h
        return self.fc3(h)


def test_residual_add_feeds_both_producers(seeded):
    model = Residual()
    g = ng.weight_graph(model, torch.zeros(1, 4))
    w3 = _abs(model.fc3.weight)
    np.testing.assert_allclose(_block(g, "fc3", "fc2"), w3)
    np.testing.assert_allclose(_block(g, "fc3", "fc1"), w3)
    np.testing.assert_allclose(_block(g, "fc2", "fc1"), _abs(model.fc2.weight))
    assert sorted(map(tuple, g.layer_pairs.tolist())) == [(0, 1), (1, 2), (1, 3), (2, 3)]


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(1, 3, 1)
        self.c = nn.Conv2d(5, 4, 3, padding=1)

    def forward(self, x):
        return self.c(torch.cat([torch.relu(self.a(x)), self.b(x)], dim=1))


def test_cat_splits_input_channels_among_producers(seeded):
    model = Concat()
    g = ng.weight_graph(model, torch.zeros(1, 1, 6, 6))
    wc = np.abs(model.c.weight.detach().double().numpy()).sum(axis=(2, 3))
    np.testing.assert_allclose(_block(g, "c", "a"), wc[:, :2])
    np.testing.assert_allclose(_block(g, "c", "b"), wc[:, 2:])


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_and_depthwise_conv(seeded, groups):
    model = nn.Sequential(nn.Conv2d(4, 8, 3, groups=groups))
    g = ng.weight_graph(model, torch.zeros(1, 4, 5, 5))
    w = np.abs(model[0].weight.detach().double().numpy()).sum(axis=(2, 3))
    expected = np.zeros((8, 4))
    out_per, in_per = 8 // groups, 4 // groups
    for k in range(groups):
        expected[k * out_per : (k + 1) * out_per, k * in_per : (k + 1) * in_per] = w[
            k * out_per : (k + 1) * out_per
        ]
    np.testing.assert_allclose(_block(g, "0", "input"), expected)
    assert g.n_edges == np.count_nonzero(expected)


def test_normalize_balances_hidden_units(seeded):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    g = ng.weight_graph(model, torch.zeros(1, 3), normalize=True)
    w1, w2 = _abs(model[0].weight), _abs(model[2].weight)
    norm = np.linalg.norm(w1, axis=1)
    np.testing.assert_allclose(_block(g, "0", "input"), w1 / norm[:, None], rtol=1e-12)
    np.testing.assert_allclose(_block(g, "2", "0"), w2 * norm[None, :], rtol=1e-12)


def test_normalize_is_invariant_to_relu_rescaling(seeded):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    rescaled = copy.deepcopy(model)
    c = torch.tensor([0.5, 2.0, 3.0, 0.1])
    with torch.no_grad():
        rescaled[0].weight.mul_(c[:, None])
        rescaled[0].bias.mul_(c)
        rescaled[2].weight.div_(c[None, :])
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(x), rescaled(x))
    a = ng.weight_graph(model, x, normalize=True).adjacency.toarray()
    b = ng.weight_graph(rescaled, x, normalize=True).adjacency.toarray()
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize(
    ("build", "sizes"),
    [
        (
            lambda: resnet18(num_classes=10),
            [3, 64] + [64] * 4 + [128] * 5 + [256] * 5 + [512] * 5 + [10],
        ),
        (
            lambda: vgg("vgg11", num_classes=10),
            [3, 64, 128, 256, 256, 512, 512, 512, 512, 512, 512, 10],
        ),
    ],
    ids=["resnet18", "vgg11"],
)
def test_node_counts_on_standard_architectures(seeded, build, sizes):
    model = build()
    g = ng.weight_graph(model, torch.zeros(1, 3, 32, 32))
    assert g.layer_sizes.tolist() == sizes
    assert g.n_nodes == sum(sizes)
    a = g.adjacency
    assert abs(a - a.T).max() == 0
    assert a.data.min() > 0
    convs = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert g.layer_names[1:] == convs


def test_resnet_residual_blocks_and_downsample():
    model = resnet18(num_classes=10)
    g = ng.weight_graph(model, torch.zeros(1, 3, 32, 32))
    pairs = {(g.layer_names[p], g.layer_names[c]) for p, c in g.layer_pairs}
    # The stem feeds layer1.0.conv1, and through the first identity shortcut also
    # layer1.1.conv1; layer2.0's downsample and conv2 both feed layer2.1.conv1.
    assert ("conv1", "layer1.0.conv1") in pairs
    assert ("conv1", "layer1.1.conv1") in pairs
    assert ("layer2.0.downsample.0", "layer2.1.conv1") in pairs
    assert ("layer2.0.conv2", "layer2.1.conv1") in pairs
    assert ("conv1", "layer2.1.conv1") not in pairs  # the downsample replaces the identity
    assert (
        "layer2.0.downsample.1"
        in g.meta["layers"][g.layer_names.index("layer2.0.downsample.0")]["normalized_by"]
    )


def test_model_not_modified_and_modes_restored(seeded):
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 36, 3)
    ).double()
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    before = copy.deepcopy(model.state_dict())
    ng.weight_graph(model, torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    after = model.state_dict()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert model.training and not model[1].training and model[0].training


def test_other_dtype_and_input_dtype(seeded):
    model = nn.Sequential(nn.Linear(3, 2)).to(torch.float64)
    g = ng.weight_graph(model, torch.zeros(1, 3, dtype=torch.float32))
    assert g.adjacency.dtype == np.float64
    np.testing.assert_array_equal(_block(g, "0", "input"), _abs(model[0].weight))
    half = nn.Sequential(nn.Linear(3, 2)).to(torch.bfloat16)
    g = ng.weight_graph(half, torch.zeros(1, 3))
    np.testing.assert_array_equal(_block(g, "0", "input"), _abs(half[0].weight.float()))


def test_nan_weights_name_the_layer(seeded):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="layer '2' has NaN or infinite weights"):
        ng.weight_graph(model, torch.zeros(1, 3))
    with torch.no_grad():
        model[2].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="'2'"):
        ng.weight_graph(model, torch.zeros(1, 3))


def test_wrong_input_shape_reraises_with_context(seeded):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match=r"module '0'.*shape \(1, 5\)") as info:
        ng.weight_graph(model, torch.zeros(1, 5))
    assert isinstance(info.value.__cause__, RuntimeError)


class CustomParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.fc(x) * self.scale


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(4, 4, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class UnknownOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.fc2 = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc2(torch.cumsum(self.fc1(x), dim=1))


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.fc2 = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc1(x) * torch.sigmoid(self.fc2(x))


class PerChannelScale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 2)
        self.register_buffer("s", torch.tensor([1.0, 100.0, 0.01]))

    def forward(self, x):
        return self.b(self.a(x) * self.s)


class ScalarScale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 2)

    def forward(self, x):
        return self.b(self.a(x) * 2.0 / 3)


def test_scaling_by_a_number_passes_but_a_per_channel_factor_is_refused(seeded):
    g = ng.weight_graph(ScalarScale(), torch.zeros(1, 3))
    assert g.layer_names == ["input", "a", "b"]
    with pytest.raises(ng.UnsupportedModelError, match=r"scales by a tensor of shape \(3,\)"):
        ng.weight_graph(PerChannelScale(), torch.zeros(1, 3))


class BnAfterAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.fc2 = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        h = self.fc1(x)
        return self.bn(self.fc2(h) + h)


@pytest.mark.parametrize(
    ("model", "x", "pattern"),
    [
        (CustomParam(), torch.zeros(1, 3), r"parameter 'scale' is used directly"),
        (Attention(), torch.zeros(1, 2, 4), r"module 'attn' \(MultiheadAttention"),
        (Recurrent(), torch.zeros(1, 2, 4), r"module 'rnn' \(LSTM"),
        (UnknownOp(), torch.zeros(1, 3), r"operation 'cumsum'"),
        (Shared(), torch.zeros(1, 3), r"module 'fc' is called more than once"),
        (Gated(), torch.zeros(1, 3), r"multiplies two tensors"),
    ],
    ids=["custom-param", "attention", "lstm", "unknown-op", "shared", "gated"],
)
def test_unsupported_models_raise_clear_errors(model, x, pattern):
    with pytest.raises(ng.UnsupportedModelError, match=pattern):
        ng.weight_graph(model, x)


def test_bn_after_add_scales_the_streams_readers(seeded):
    """A batch norm after a residual add belongs to no single layer.

    It scales the edges from the stream to the layers reading it (here none: it feeds the
    output).
    """
    model = BnAfterAdd()
    with torch.no_grad():
        model.bn.running_var.uniform_(0.1, 10.0)
    g = ng.weight_graph(model, torch.zeros(2, 3))
    plain = ng.weight_graph(model, torch.zeros(2, 3), fold_batchnorm=False)
    np.testing.assert_array_equal(g.adjacency.toarray(), plain.adjacency.toarray())
    assert all(not layer["normalized_by"] for layer in g.meta["layers"])


def test_bad_options_and_inputs():
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="reduction"):
        ng.weight_graph(model, torch.zeros(1, 3), reduction="max")
    with pytest.raises(TypeError, match="example_input must be a torch.Tensor"):
        ng.weight_graph(model, np.zeros((1, 3)))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ng.weight_graph(lambda x: x, torch.zeros(1, 3))


def test_pruned_units_are_isolated(seeded):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight[1] = 0
        model[2].weight[:, 1] = 0
    g = ng.weight_graph(model, torch.zeros(1, 3))
    assert g.degree[g.layer_nodes("0")[1]] == 0
    assert 0 not in g.adjacency.data


@pytest.mark.parametrize("method", ["prune", "weight_norm"])
def test_weights_set_by_a_forward_pre_hook(seeded, method):
    # Pruning and the older weight norm set module.weight before every pass: the graph
    # is that of those weights, and the module keeps its own tensor (not nngraph's).
    from torch.nn.utils import prune, weight_norm

    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5))
    if method == "prune":
        prune.l1_unstructured(model[3], "weight", amount=0.7)
    else:
        with warnings.catch_warnings():  # deprecated in favour of parametrizations
            warnings.simplefilter("ignore", FutureWarning)
            weight_norm(model[3])
    with torch.no_grad():  # the hook sets the weight (a leaf: the model deep-copies)
        model(torch.zeros(1, 2, 6, 6))
    weight = model[3].weight
    g = ng.weight_graph(model, torch.zeros(1, 2, 6, 6))
    assert model[3].weight is weight and type(weight) is torch.Tensor
    plain = copy.deepcopy(model)
    if method == "prune":
        prune.remove(plain[3], "weight")
    else:
        from torch.nn.utils import remove_weight_norm

        remove_weight_norm(plain[3])
    ref = ng.weight_graph(plain, torch.zeros(1, 2, 6, 6))
    np.testing.assert_allclose(g.adjacency.toarray(), ref.adjacency.toarray(), rtol=1e-12)
    if method == "prune":  # 70% of the weights are 0: fewer edges than a dense layer
        assert g.layer_nodes("3").size == 5 and 0 not in g.adjacency.data


class _AddInPlace(nn.Module):
    """A residual add written ``out.add_(h)``, its result not assigned (same tensor)."""

    def __init__(self, in_place: bool) -> None:
        super().__init__()
        self.a, self.b, self.fc = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 3)
        self.in_place = in_place

    def forward(self, x):
        h = self.a(x)
        out = self.b(torch.relu(h))
        if self.in_place:
            out.add_(h)
        else:
            out = out + h
        return self.fc(out)


def test_a_reader_after_an_in_place_op_reads_its_result(seeded):
    model = _AddInPlace(True)
    functional = copy.deepcopy(model)
    functional.in_place = False
    g = ng.weight_graph(model, torch.zeros(1, 4))
    ref = ng.weight_graph(functional, torch.zeros(1, 4))
    assert g.layer_names == ref.layer_names
    np.testing.assert_array_equal(g.adjacency.toarray(), ref.adjacency.toarray())
    a, fc = g.layer_nodes("a"), g.layer_nodes("fc")
    assert g.adjacency[a][:, fc].nnz == 18  # the skip: a's units reach fc


def test_an_mlp_pooling_its_image_first_has_channel_input_units(seeded):
    # Pixels cannot be followed through the pooling: the input's units stay its channels,
    # each reaching a Linear unit with the weights of its features summed (as for a CNN).
    model = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 3), nn.ReLU())
    model = nn.Sequential(*model, nn.Linear(3, 2))
    g = ng.weight_graph(model, torch.zeros(1, 1, 8, 8))
    assert g.layer_names == ["input", "2", "4"] and g.layer_sizes.tolist() == [1, 3, 2]
    want = model[2].weight.detach().double().abs().sum(dim=1).numpy()
    np.testing.assert_allclose(g.adjacency.toarray()[0, 1:4], want, rtol=1e-6)


def test_mlp_flattening_images_has_one_input_unit_per_pixel(seeded):
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4), nn.ReLU(), nn.Linear(4, 2))
    g = ng.weight_graph(model, torch.zeros(1, 2, 3, 3))
    assert g.layer_sizes.tolist() == [18, 4, 2]
    np.testing.assert_array_equal(_block(g, "1", "input"), _abs(model[1].weight))
    flat = ng.weight_graph(model[1:], torch.zeros(1, 18))
    np.testing.assert_array_equal(g.adjacency.toarray(), flat.adjacency.toarray())


def test_cnn_input_units_are_channels(seeded):
    model = ConvFlattenLinear()
    g = ng.weight_graph(model, torch.zeros(1, 1, 8, 8))
    assert g.layer_sizes[0] == 1


class CReLU(nn.Module):
    """One Linear layer feeds the next twice, through a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(torch.cat([torch.relu(h), torch.relu(-h)], dim=1))


def test_repeated_producer_sums_magnitudes(seeded):
    model = CReLU()
    g = ng.weight_graph(model, torch.zeros(1, 3))
    w = _abs(model.fc2.weight)
    np.testing.assert_allclose(_block(g, "fc2", "fc1"), w[:, :4] + w[:, 4:], rtol=1e-12)


class TwoNorms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn_a = nn.BatchNorm1d(4)
        self.bn_b = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h = self.fc(x)
        return self.out(self.bn_a(h) + self.bn_b(h))


def test_two_batch_norms_read_by_one_layer_scale_its_inputs(seeded):
    """Two batch norms read ``fc``'s output, so neither belongs to ``fc``'s units.

    Each scales the path it is on, and the two paths' magnitudes add up.
    """
    model = TwoNorms()
    with torch.no_grad():
        for bn in (model.bn_a, model.bn_b):
            bn.running_var.uniform_(0.1, 10.0)
            bn.weight.uniform_(-2.0, 2.0)
    g = ng.weight_graph(model, torch.zeros(2, 3))
    assert g.layer_names == ["input", "fc", "out"]

    def factor(bn):
        return _abs(bn.weight) / np.sqrt(bn.running_var.double().numpy() + bn.eps)

    both = factor(model.bn_a) + factor(model.bn_b)
    np.testing.assert_allclose(_block(g, "out", "fc"), _abs(model.out.weight) * both, rtol=1e-12)
    np.testing.assert_array_equal(_block(g, "fc", "input"), _abs(model.fc.weight))
    assert g.meta["layers"][2]["input_normalized_by"] == ["bn_a", "bn_b"]


def test_conv1d_batchnorm1d_and_padding(seeded):
    conv = nn.Conv1d(2, 3, 3)
    bn = nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(-2.0, 2.0)
    model = nn.Sequential(nn.ConstantPad1d(1, 0.0), conv, bn, nn.ReLU(), nn.Conv1d(3, 2, 1))
    g = ng.weight_graph(model, torch.zeros(1, 2, 7))
    factor = _abs(bn.weight) / np.sqrt(bn.running_var.double().numpy() + bn.eps)
    w = np.abs(conv.weight.detach().double().numpy()).sum(axis=2)
    np.testing.assert_allclose(_block(g, "1", "input"), w * factor[:, None], rtol=1e-12)
    assert g.meta["layers"][1]["normalized_by"] == ["2"]


def test_bundled_small_cnn(seeded):
    from nngraph.models import small_cnn

    model = small_cnn()
    g = ng.weight_graph(model, torch.zeros(1, 1, 8, 8))
    assert g.layer_sizes.tolist() == [1, 16, 32, 32, 10]
    assert all(layer["normalized_by"] for layer in g.meta["layers"][1:4])
