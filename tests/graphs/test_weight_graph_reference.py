"""weight_graph against a per-edge reference computed independently from the parameters.

Every model here gets trained-like batch-norm statistics (signed gamma, running
variances from 0.02 to 50): with torch's default statistics a batch norm's factor is
about 1 and a wrong fold (the same block scaled twice, a batch norm given to the wrong
layer) is invisible. The reference is written from each architecture's definition:
which layer's units reach which input channel of each consumer, and which batch norm
scales what, with plain numpy and loops -- no code of nngraph's tracer or writer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nngraph as ng
from nngraph.models import _families as fam
from nngraph.models import resnet18, small_cnn, vgg


def trained_like(model: nn.Module, rng: np.random.Generator) -> nn.Module:
    """Random weights, and batch norms with statistics far from torch's defaults."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                sign = rng.choice([-1.0, 1.0], n)
                m.weight.copy_(torch.from_numpy(sign * rng.uniform(0.2, 3.0, n)))
                m.bias.copy_(torch.from_numpy(rng.standard_normal(n)))
                m.running_mean.copy_(torch.from_numpy(rng.standard_normal(n)))
                m.running_var.copy_(torch.from_numpy(np.exp(rng.uniform(-4.0, 4.0, n))))
    return model.eval()


def bnf(bn: nn.Module) -> np.ndarray:
    """|gamma| / sqrt(running_var + eps), computed here."""
    gamma = bn.weight.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    return np.abs(gamma) / np.sqrt(var + bn.eps)


def red(module: nn.Module) -> np.ndarray:
    """Return the L1 reduction of a layer's weights, (out, in).

    Kernel slices are summed, groups expanded with zeros.
    """
    w = module.weight.detach().double().numpy()
    if w.ndim == 2:
        return np.abs(w)
    r = np.abs(w).reshape(w.shape[0], w.shape[1], -1).sum(axis=2)
    groups = getattr(module, "groups", 1)
    out_per, in_per = w.shape[0] // groups, w.shape[1]
    full = np.zeros((w.shape[0], in_per * groups))
    for o in range(w.shape[0]):
        g = o // out_per
        full[o, g * in_per : (g + 1) * in_per] = r[o]
    return full


class Reference:
    """A dense expected graph: layers by name, edges added one consumer at a time."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.names = list(sizes)
        self.offsets = dict(zip(self.names, np.cumsum([0, *sizes.values()])[:-1], strict=True))
        self.a = np.zeros((sum(sizes.values()),) * 2)

    def read(
        self,
        consumer: str,
        weights: np.ndarray,
        sources: list[tuple[str, np.ndarray]],
        row: np.ndarray | None = None,
        col: np.ndarray | None = None,
    ) -> None:
        """Add the edges of ``consumer`` reading input channels from ``sources``.

        ``sources`` gives, per producer, the producer unit at each input channel (-1: none).
        ``row`` scales the consumer's entering edges (its own batch norm), ``col`` each input
        channel (a batch norm between).
        """
        n_out, n_in = weights.shape
        row = np.ones(n_out) if row is None else row
        col = np.ones(n_in) if col is None else col
        for producer, unit_of_channel in sources:
            for ch in range(n_in):
                u = unit_of_channel[ch]
                if u < 0:
                    continue
                for j in range(n_out):
                    i_node = self.offsets[producer] + u
                    j_node = self.offsets[consumer] + j
                    w = weights[j, ch] * row[j] * col[ch]
                    self.a[i_node, j_node] += w
                    self.a[j_node, i_node] += w

    def check(self, g: ng.NeuronGraph) -> None:
        assert g.layer_names == self.names
        np.testing.assert_allclose(g.adjacency.toarray(), self.a, rtol=1e-12, atol=1e-12)


def ident(n: int) -> np.ndarray:
    return np.arange(n)


@pytest.fixture
def seeded_rng():
    return np.random.default_rng(7)


# ---------------------------------------------------------------------- residual blocks
class BasicDown(nn.Module):
    """A basic block with a downsampling shortcut, then a consumer with a batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.down = nn.Conv2d(3, 6, 1, stride=2, bias=False)
        self.bnd = nn.BatchNorm2d(6)
        self.head = nn.Conv2d(6, 4, 3, padding=1, bias=False)
        self.bnh = nn.BatchNorm2d(4)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out = F.relu(out + self.bnd(self.down(x)))
        return self.bnh(self.head(out))


def test_basic_block_with_downsampling_shortcut(seeded_rng):
    m = trained_like(BasicDown(), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 3, 8, 8))
    ref = Reference({"input": 3, "conv1": 6, "conv2": 6, "down": 6, "head": 4})
    ref.read("conv1", red(m.conv1), [("input", ident(3))], row=bnf(m.bn1))
    ref.read("conv2", red(m.conv2), [("conv1", ident(6))], row=bnf(m.bn2))
    ref.read("down", red(m.down), [("input", ident(3))], row=bnf(m.bnd))
    # The stream after the add carries conv2's and down's units: head reads both, and
    # its batch norm scales each of the two blocks once.
    ref.read("head", red(m.head), [("conv2", ident(6)), ("down", ident(6))], row=bnf(m.bnh))
    ref.check(g)


class TwoBottlenecks(nn.Module):
    """Two bottlenecks on one stream (identity shortcut in the second), then a consumer."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = fam.Bottleneck(8, 2)  # 8 -> 8 channels: identity shortcut
        self.b2 = fam.Bottleneck(8, 2)
        self.stem = nn.Conv2d(3, 8, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 3, 1, bias=False)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        return self.head(self.b2(self.b1(x)))


def test_bottleneck_stream_with_several_producers(seeded_rng):
    m = trained_like(TwoBottlenecks(), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 3, 5, 5))
    names = [
        "input",
        "stem",
        "b1.conv1",
        "b1.conv2",
        "b1.conv3",
        "b2.conv1",
        "b2.conv2",
        "b2.conv3",
        "head",
    ]
    sizes = [3, 8, 2, 2, 8, 2, 2, 8, 3]
    ref = Reference(dict(zip(names, sizes, strict=True)))
    ref.read("stem", red(m.stem), [("input", ident(3))], row=bnf(m.stem_bn))
    stream = [("stem", ident(8))]
    for b in ("b1", "b2"):
        blk = getattr(m, b)
        ref.read(f"{b}.conv1", red(blk.conv1), stream, row=bnf(blk.bn1))
        ref.read(f"{b}.conv2", red(blk.conv2), [(f"{b}.conv1", ident(2))], row=bnf(blk.bn2))
        ref.read(f"{b}.conv3", red(blk.conv3), [(f"{b}.conv2", ident(2))], row=bnf(blk.bn3))
        stream = [*stream, (f"{b}.conv3", ident(8))]
    ref.read("head", red(m.head), stream)  # three producers feed the last stream
    ref.check(g)


def test_inverted_residual_with_depthwise_conv(seeded_rng):
    m = trained_like(fam._InvertedResidual(4, 4, 1, 3), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 4, 6, 6))
    c = m.conv
    ref = Reference({"input": 4, "conv.0": 12, "conv.3": 12, "conv.6": 4})
    ref.read("conv.0", red(c[0]), [("input", ident(4))], row=bnf(c[1]))
    ref.read("conv.3", red(c[3]), [("conv.0", ident(12))], row=bnf(c[4]))  # depthwise
    ref.read("conv.6", red(c[6]), [("conv.3", ident(12))], row=bnf(c[7]))
    ref.check(g)
    assert g.n_edges == 4 * 12 + 12 + 12 * 4  # the depthwise block is diagonal


def test_densenet_pre_activation_batch_norms_scale_their_readers_inputs(seeded_rng):
    m = trained_like(fam.densenet(num_classes=3, growth=2, n_layers=2), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 3, 4, 4))
    stem, d1, d2, final_bn, fc = m[0], m[1], m[2], m[3], m[7]
    names = ["input", "0", "1.conv1", "1.conv2", "2.conv1", "2.conv2", "7"]
    ref = Reference(dict(zip(names, [3, 4, 8, 2, 8, 2, 3], strict=True)))
    ref.read("0", red(stem), [("input", ident(3))])
    # Layer 1 reads stem's 4 channels through its own norm1 (a per-input-channel factor:
    # the stem's output is also concatenated, so norm1 belongs to no single layer);
    # norm2 normalises conv1's output alone, so it belongs to conv1's units.
    ref.read("1.conv1", red(d1.conv1), [("0", ident(4))], row=bnf(d1.norm2), col=bnf(d1.norm1))
    ref.read("1.conv2", red(d1.conv2), [("1.conv1", ident(8))])
    # Layer 2 reads cat(stem, layer 1's output): 6 channels through norm1.
    cat2 = [("0", np.r_[ident(4), -1, -1]), ("1.conv2", np.r_[[-1] * 4, ident(2)])]
    ref.read("2.conv1", red(d2.conv1), cat2, row=bnf(d2.norm2), col=bnf(d2.norm1))
    ref.read("2.conv2", red(d2.conv2), [("2.conv1", ident(8))])
    cat3 = [*[(n, np.r_[u, -1, -1]) for n, u in cat2], ("2.conv2", np.r_[[-1] * 6, ident(2)])]
    ref.read("7", red(fc), cat3, col=bnf(final_bn))
    ref.check(g)


def test_channel_split_and_shuffle(seeded_rng):
    m = trained_like(fam.channel_shuffle_net(num_classes=2, channels=4), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 3, 4, 4))
    stem, u1, u2, fc = m[0], m[3], m[4], m[7]
    names = ["input", "0", "3.branch.0", "3.branch.3", "3.branch.5"]
    names += ["4.branch.0", "4.branch.3", "4.branch.5", "7"]
    ref = Reference(dict(zip(names, [3, 4, 2, 2, 2, 2, 2, 2, 2], strict=True)))
    ref.read("0", red(stem), [("input", ident(3))], row=bnf(m[1]))

    def unit(prefix, blk, source):
        br = blk.branch
        ref.read(f"{prefix}.branch.0", red(br[0]), source, row=bnf(br[1]))
        ref.read(
            f"{prefix}.branch.3", red(br[3]), [(f"{prefix}.branch.0", ident(2))], row=bnf(br[4])
        )
        ref.read(
            f"{prefix}.branch.5", red(br[5]), [(f"{prefix}.branch.3", ident(2))], row=bnf(br[6])
        )

    # Unit 1: channels 0-1 of the stem pass, 2-3 go into the branch; cat -> [s0, s1, b0, b1];
    # shuffle with 2 groups -> [s0, b0, s1, b1].
    unit("3", u1, [("0", np.array([2, 3]))])
    after1 = [("0", np.array([0, -1, 1, -1])), ("3.branch.5", np.array([-1, 0, -1, 1]))]
    # Unit 2 splits that: [s0, b0] pass, [s1, b1] go into its branch.
    unit("4", u2, [("0", np.array([1, -1])), ("3.branch.5", np.array([-1, 1]))])
    # cat -> [s0, b0, c0, c1]; shuffle -> [s0, c0, b0, c1].
    final = [
        ("0", np.array([0, -1, -1, -1])),
        ("3.branch.5", np.array([-1, -1, 0, -1])),
        ("4.branch.5", np.array([-1, 0, -1, 1])),
    ]
    ref.read("7", red(fc), final)
    del after1
    ref.check(g)


class BatchNormAct2d(nn.BatchNorm2d):
    """A batch norm that also applies its activation, as timm's CNNs use everywhere."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


def test_batch_norm_subclass_with_activation_is_a_batch_norm(seeded_rng):
    m = trained_like(
        nn.Sequential(nn.Conv2d(3, 5, 3), BatchNormAct2d(5), nn.Conv2d(5, 2, 1)), seeded_rng
    )
    g = ng.weight_graph(m, torch.zeros(1, 3, 6, 6))
    ref = Reference({"input": 3, "0": 5, "2": 2})
    ref.read("0", red(m[0]), [("input", ident(3))], row=bnf(m[1]))
    ref.read("2", red(m[2]), [("0", ident(5))])
    ref.check(g)
    assert g.meta["layers"][1]["normalized_by"] == ["1"]


def test_squeeze_and_excitation_gate_ignored_on_request(seeded_rng):
    m = trained_like(fam.se_net(num_classes=2, channels=4), seeded_rng)
    with pytest.raises(ng.UnsupportedModelError, match="gating='ignore'"):
        ng.weight_graph(m, torch.zeros(1, 3, 4, 4))
    g = ng.weight_graph(m, torch.zeros(1, 3, 4, 4), gating="ignore")
    se = m[3]
    ref = Reference({"input": 3, "0": 4, "3.fc1": 1, "3.fc2": 4, "4": 4, "9": 2})
    ref.read("0", red(m[0]), [("input", ident(3))], row=bnf(m[1]))
    ref.read("3.fc1", red(se.fc1), [("0", ident(4))])
    ref.read("3.fc2", red(se.fc2), [("3.fc1", ident(1))])
    ref.read("4", red(m[4]), [("0", ident(4))], row=bnf(m[5]))  # the gate is outside
    ref.read("9", red(m[9]), [("4", ident(4))])
    ref.check(g)


# ---------------------------------------------------------------------- whole networks
def _sequential_reference(names, sizes, steps):
    ref = Reference(dict(zip(names, sizes, strict=True)))
    for consumer, weights, producer, row in steps:
        ref.read(consumer, weights, [(producer, ident(weights.shape[1]))], row=row)
    return ref


def test_bundled_resnet18_with_trained_statistics(seeded_rng):
    m = trained_like(resnet18(num_classes=5, width=4), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 3, 32, 32))
    sizes = {"input": 3, "conv1": 4}
    for li in range(1, 5):
        for bi in range(2):
            blk = getattr(m, f"layer{li}")[bi]
            sizes[f"layer{li}.{bi}.conv1"] = blk.conv1.out_channels
            if blk.downsample is not None:
                sizes[f"layer{li}.{bi}.downsample.0"] = blk.downsample[0].out_channels
            sizes[f"layer{li}.{bi}.conv2"] = blk.conv2.out_channels
    sizes["fc"] = 5
    # nngraph orders layers by call order: the downsample runs after conv2 in forward().
    order = ["input", "conv1"]
    for li in range(1, 5):
        for bi in range(2):
            p = f"layer{li}.{bi}"
            order += [f"{p}.conv1", f"{p}.conv2"]
            if getattr(m, f"layer{li}")[bi].downsample is not None:
                order.append(f"{p}.downsample.0")
    order.append("fc")
    ref = Reference({n: sizes[n] for n in order})
    ref.read("conv1", red(m.conv1), [("input", ident(3))], row=bnf(m.bn1))
    stream = [("conv1", ident(4))]
    for li in range(1, 5):
        for bi in range(2):
            blk, p = getattr(m, f"layer{li}")[bi], f"layer{li}.{bi}"
            n = blk.conv1.out_channels
            ref.read(f"{p}.conv1", red(blk.conv1), stream, row=bnf(blk.bn1))
            ref.read(f"{p}.conv2", red(blk.conv2), [(f"{p}.conv1", ident(n))], row=bnf(blk.bn2))
            if blk.downsample is not None:
                ref.read(
                    f"{p}.downsample.0", red(blk.downsample[0]), stream, row=bnf(blk.downsample[1])
                )
                stream = [(f"{p}.downsample.0", ident(n))]
            stream = [*stream, (f"{p}.conv2", ident(n))]
    ref.read("fc", red(m.fc), stream)
    ref.check(g)


def test_bundled_vgg_and_small_cnn_with_trained_statistics(seeded_rng):
    m = trained_like(vgg([4, "M", 6], num_classes=3, hidden=5), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 3, 8, 8))
    f, c = m.features, m.classifier
    names = ["input", "features.0", "features.4", "classifier.0", "classifier.3", "classifier.6"]
    _sequential_reference(
        names,
        [3, 4, 6, 5, 5, 3],
        [
            ("features.0", red(f[0]), "input", bnf(f[1])),
            ("features.4", red(f[4]), "features.0", bnf(f[5])),
            ("classifier.0", red(c[0]), "features.4", None),
            ("classifier.3", red(c[3]), "classifier.0", None),
            ("classifier.6", red(c[6]), "classifier.3", None),
        ],
    ).check(g)
    m = trained_like(small_cnn(channels=(3, 4)), seeded_rng)
    g = ng.weight_graph(m, torch.zeros(1, 1, 8, 8))
    f = m.features
    _sequential_reference(
        ["input", "features.0", "features.4", "classifier"],
        [1, 3, 4, 10],
        [
            ("features.0", red(f[0]), "input", bnf(f[1])),
            ("features.4", red(f[4]), "features.0", bnf(f[5])),
            ("classifier", red(m.classifier), "features.4", None),
        ],
    ).check(g)
