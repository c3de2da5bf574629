"""weight_graph on the networks people train.

The model untouched, wrappers, extra arguments, token-wise layers, resizing, dimension
semantics, and choosing layers.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nngraph as ng
from nngraph.models import _families as fam


@pytest.fixture
def seeded():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _abs(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().abs().numpy()


def _block(g: ng.NeuronGraph, a: str, b: str) -> np.ndarray:
    return g.adjacency.toarray()[np.ix_(g.layer_nodes(a), g.layer_nodes(b))]


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_state(model: nn.Module, before: dict) -> bool:
    after = model.state_dict()
    return before.keys() == after.keys() and all(
        v.dtype == after[k].dtype and torch.equal(v, after[k]) for k, v in before.items()
    )


# ---------------------------------------------------------------------- the model untouched
class FailsAfterBatchNorm(nn.Module):
    """Batch norms run (and would update statistics in train mode), then the call fails."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(7, 2)  # wrong size: the forward pass raises after the bn

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.bn(self.conv(x))), 1))


def test_a_failed_call_leaves_state_and_modes_byte_identical(seeded):
    model = FailsAfterBatchNorm().train()
    model.conv.eval()  # mixed modes come back exactly
    before = _state(model)
    modes = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="failed at module 'fc'"):
        ng.weight_graph(model, torch.randn(2, 3, 6, 6))
    assert _same_state(model, before)
    assert int(model.bn.num_batches_tracked) == 0
    assert [m.training for m in model.modules()] == modes


class CountsCalls(nn.Module):
    """A model whose forward pass writes its buffers, in any mode (through a hook)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.register_buffer("calls", torch.zeros(()))
        self.register_buffer("last", torch.zeros(3))
        self.fc.register_forward_hook(self._record)

    def _record(self, module, args, output):
        self.calls += 1  # in place
        self.last = output.detach().mean(0)  # replaced by another tensor

    def forward(self, x):
        return self.fc(x)


def test_buffers_written_by_forward_are_restored(seeded):
    model = CountsCalls()
    before = _state(model)
    buffer = model.last
    ng.weight_graph(model, torch.ones(2, 3))
    assert _same_state(model, before) and model.last is buffer
    model(torch.ones(2, 3))  # the hook does run
    assert int(model.calls) == 1


def test_spectral_norm_buffers_are_untouched_in_training_mode(seeded):
    """Reading a spectral-normed weight in train mode would step its power iteration."""
    from torch.nn.utils import parametrizations

    model = nn.Sequential(
        parametrizations.spectral_norm(nn.Linear(6, 8)),
        nn.ReLU(),
        parametrizations.spectral_norm(nn.Linear(8, 3)),
    ).train()
    before = _state(model)
    g = ng.weight_graph(model, torch.zeros(1, 6))
    assert _same_state(model, before) and model.training
    with torch.no_grad():
        model.eval()
        w = model[0].weight.abs()  # the eval-mode weight is the one graphed
    np.testing.assert_allclose(g.adjacency[6:14, :6].toarray(), w.numpy(), rtol=1e-6)


class TrainOnlyBranch(nn.Module):
    """A network with an auxiliary head in train mode only (as GoogLeNet's)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.aux = nn.Linear(4, 2)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        if self.training:
            return self.fc2(h), self.aux(h)
        return self.fc2(h)


def test_train_mode_branches_are_not_traced(seeded):
    model = TrainOnlyBranch().train()
    g = ng.weight_graph(model, torch.zeros(1, 4))
    assert g.layer_names == ["input", "fc1", "fc2"]
    assert model.training


def test_wrappers_are_unwrapped(seeded):
    inner = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    reference = ng.weight_graph(inner, torch.zeros(1, 3))
    for wrapped in (nn.DataParallel(inner), torch.compile(inner)):
        g = ng.weight_graph(wrapped, torch.zeros(1, 3))
        assert g.layer_names == ["input", "0", "2"]
        np.testing.assert_array_equal(g.adjacency.toarray(), reference.adjacency.toarray())


class WithMask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x, mask=None, scale: float = 1.0):
        h = F.relu(self.fc1(x))
        if mask is not None:
            h = h * mask
        return self.fc2(h) * scale


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, y):
        return self.fc(x + y)


def test_extra_forward_arguments_are_traced_at_their_defaults(seeded):
    g = ng.weight_graph(WithMask(), torch.zeros(1, 3))
    assert g.layer_names == ["input", "fc1", "fc2"]
    with pytest.raises(ng.UnsupportedModelError, match="more than one input .'y' has no default"):
        ng.weight_graph(TwoInputs(), torch.zeros(1, 3))


# ---------------------------------------------------------------------- layouts
class TokenMLP(nn.Module):
    """A transformer-style MLP block on (batch, tokens, features)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def test_linear_on_tokens_has_one_unit_per_feature(seeded):
    model = TokenMLP()
    g = ng.weight_graph(model, torch.zeros(2, 5, 4))
    assert g.layer_sizes.tolist() == [4, 6, 3]
    np.testing.assert_array_equal(_block(g, "fc1", "input"), _abs(model.fc1.weight))
    np.testing.assert_array_equal(_block(g, "fc2", "fc1"), _abs(model.fc2.weight))


class ChannelsLast(nn.Module):
    """ConvNeXt's pattern without its LayerNorm.

    A depthwise conv, then pointwise Linear layers on channels-last (N, H, W, C), then back.
    """

    def __init__(self, norm: bool = False) -> None:
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(4) if norm else nn.Identity()
        self.pw1 = nn.Linear(4, 8)
        self.pw2 = nn.Linear(8, 4)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        h = self.dw(x).permute(0, 2, 3, 1)
        h = self.pw2(F.gelu(self.pw1(self.norm(h)))).permute(0, 3, 1, 2)
        return self.head(x + h)


def test_channels_last_linear_layers_read_channels(seeded):
    model = ChannelsLast()
    g = ng.weight_graph(model, torch.zeros(1, 4, 5, 5))
    assert g.layer_names == ["input", "dw", "pw1", "pw2", "head"]
    np.testing.assert_array_equal(_block(g, "pw1", "dw"), _abs(model.pw1.weight))
    np.testing.assert_array_equal(_block(g, "pw2", "pw1"), _abs(model.pw2.weight))
    head = _abs(model.head.weight).sum(axis=(2, 3))
    np.testing.assert_array_equal(_block(g, "head", "pw2"), head)  # residual stream
    np.testing.assert_array_equal(_block(g, "head", "input"), head)


def test_a_layer_norm_is_named_as_the_blocking_module(seeded):
    with pytest.raises(ng.UnsupportedModelError, match=r"module 'norm' \(LayerNorm"):
        ng.weight_graph(ChannelsLast(norm=True), torch.zeros(1, 4, 5, 5))


def test_u_net_resizing_passes_through(seeded):
    model = fam.unet(n_out=2, channels=3)
    g = ng.weight_graph(model, torch.zeros(1, 3, 8, 8), fold_batchnorm=False)
    fuse = _abs(model.fuse[0].weight).sum(axis=(2, 3))
    np.testing.assert_array_equal(_block(g, "fuse.0", "down1.0"), fuse[:, :3])
    np.testing.assert_array_equal(_block(g, "fuse.0", "down2.0"), fuse[:, 3:])


class MeanOverChannels(nn.Module):
    """8 channels on an 8x8 map: a mean over the channels has the shape of a spatial one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=1).mean(dim=1))


class MeanOverSpace(MeanOverChannels):
    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def test_which_dimension_carries_units_is_tracked_not_guessed(seeded):
    with pytest.raises(ng.UnsupportedModelError, match=r"reduces over dimension\(s\) \[1\]"):
        ng.weight_graph(MeanOverChannels(), torch.zeros(1, 1, 8, 8))
    g = ng.weight_graph(MeanOverSpace(), torch.zeros(1, 1, 8, 8))
    assert g.layer_names == ["input", "conv", "fc"]


class SliceChannels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 6, 1)
        self.c = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        first, second = torch.split(self.a(x), [2, 4], dim=1)
        return self.c(torch.cat([first[:, 1:], second[:, ::2]], 1))


def test_channel_selections_pick_units(seeded):
    model = SliceChannels()
    g = ng.weight_graph(model, torch.zeros(1, 2, 3, 3))
    c = _abs(model.c.weight).sum(axis=(2, 3))
    # c reads [a1, a2, a4]: first[:, 1:] = a[1], second[:, ::2] = a[2], a[4].
    expected = np.zeros((2, 6))
    expected[:, [1, 2, 4]] = c
    np.testing.assert_array_equal(_block(g, "c", "a"), expected)


# ---------------------------------------------------------------------- choosing layers
def test_layers_option_gives_the_induced_subgraph(seeded):
    model = fam.channel_shuffle_net(num_classes=3, channels=4)
    x = torch.zeros(1, 3, 4, 4)
    full = ng.weight_graph(model, x, normalize=True)

    def convs(name, module):
        return isinstance(module, nn.Conv2d)

    g = ng.weight_graph(model, x, normalize=True, layers=convs)
    assert "input" not in g.layer_names and "7" not in g.layer_names
    nodes = np.flatnonzero(np.isin(np.array(full.layer_names)[full.node_layer], g.layer_names))
    np.testing.assert_allclose(
        g.adjacency.toarray(), full.subgraph(nodes).adjacency.toarray(), rtol=1e-12
    )
    by_name = ng.weight_graph(model, x, layers=["0", "7"])
    # The stem's unit 0 passes both shuffle units untouched to the logits.
    assert by_name.layer_names == ["0", "7"] and by_name.n_edges == 3
    with pytest.raises(ValueError, match=r"layers \['nope'\] are not layers of the model"):
        ng.weight_graph(model, x, layers=["nope"])


def test_bad_options_are_refused_before_tracing(seeded):
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="gating"):
        ng.weight_graph(model, torch.zeros(1, 2), gating="maybe")
    with pytest.raises(TypeError, match="normalize"):
        ng.weight_graph(model, torch.zeros(1, 2), normalize="yes")


def test_the_model_is_not_modified_on_residual_networks(seeded):
    model = fam.resnet50(num_classes=3, width=4, layers=(1, 1, 1, 1)).train()
    before = copy.deepcopy(model.state_dict())
    ng.weight_graph(model, torch.randn(2, 3, 32, 32), normalize=True)
    assert _same_state(model, before) and model.training
