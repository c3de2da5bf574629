"""coherence: planted coherence is found, the optimiser behaves, batches change nothing."""

from __future__ import annotations

import copy

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.stats import kstest

import nngraph as ng
from nngraph.proxies import coherence_figure
from nngraph.proxies._visualization import _transform, entropy_bits, optimise, parameterization
from nngraph.stats import empirical_pvalues

matplotlib.use("Agg")


def _planted():
    """Build a layer where units 0-4 respond only to classes 0 and 1.

    Inputs are noise plus a class signal on feature ``c``; units 0-4 read features 0
    and 1 alone, the 45 others random mixtures of all 20 features.
    """
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat(30)
    x = torch.randn(300, 20, generator=g)
    x[torch.arange(300), y] += 3.0
    first = nn.Linear(20, 50, bias=False)
    w = torch.randn(50, 20, generator=g)
    w[:5] = 0.0
    w[:5, :2] = 1.0
    with torch.no_grad():
        first.weight.copy_(w)
    model = nn.Sequential(first, nn.ReLU(), nn.Linear(50, 10)).eval()
    part = ng.Partition({"0": np.r_[np.zeros(5), np.ones(45)].astype(int)})
    return model, x, y, part


def test_a_sub_cluster_responding_to_two_classes_gets_the_smallest_p():
    model, x, y, part = _planted()
    res = ng.coherence(model, part, x, y, random_state=0, max_fraction=0.95)
    (row,) = [r for r in res.rows if r["cluster"] == 0]
    assert sum(label in (0, 1) for label in row["top_labels"]) >= 8
    assert row["label_entropy"] < 1.5
    assert row["label_entropy_p"] == pytest.approx(1 / 20)
    assert row["label_entropy"] < np.min(res.random["label_entropy"][0])


def test_the_optimiser_climbs_a_concave_objective_monotonically():
    w = torch.tensor([[1.0, 2.0, 0.5, 3.0]])
    param = parameterization("plain", torch.tensor([[0.0] * 4, [1.0] * 4]))
    history: list[torch.Tensor] = []
    x = optimise(
        lambda v: (v * w).sum(1),
        param,
        1,
        steps=50,
        history=history,
    )
    values = torch.stack(history).squeeze(1).numpy()
    assert np.all(np.diff(values) > 0)
    assert float((x * w).sum()) > values[-1]  # the final input, after the last step


def test_batched_and_one_at_a_time_optimisation_agree():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3))
    model = model.double().eval()
    member = torch.tensor([[1.0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0], [0, 1, 0, 0, 0, 1]])
    param = parameterization("fourier", torch.rand(5, 1, 8, 8))
    theta0 = param.init(3, torch.Generator().manual_seed(1), torch.device("cpu"))

    def objective(x, rows=slice(None)):
        values = model(x).mean(dim=(2, 3)).abs()
        return (values * member[rows]).sum(1)

    batched = optimise(objective, param, 3, steps=20, theta0=theta0, dtype=torch.float64)
    for j in range(3):
        alone = optimise(
            lambda x, j=j: objective(x, slice(j, j + 1)),
            param,
            1,
            steps=20,
            theta0=theta0[j : j + 1],
            dtype=torch.float64,
        )
        np.testing.assert_allclose(alone[0].numpy(), batched[j].numpy(), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------- colour images
#: Lucid's square root of a natural-image colour correlation (RGB), the reference.
LUCID_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def _rgb_net() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(6, 6, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(6, 3),
        )
        with torch.no_grad():
            model[-1].weight.mul_(10.0)  # a softmax far from uniform
    return model.eval()


@pytest.fixture(scope="module")
def rgb():
    """Give a tiny 3-channel conv net, 3x8x8 inputs in [-0.5, 1.5], a partition of its conv 2."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 3, 8, 8, generator=g) * 2 - 0.5
    y = torch.randint(0, 3, (30,), generator=g)
    part = ng.Partition({"2": np.array([0, 0, 0, 1, 1, 1])})
    return _rgb_net(), x, y, part


RGB_VIS = dict(method="visualization", n_random=4, n_null_partitions=0)


def _same(a: ng.ProxyResult, b: ng.ProxyResult) -> bool:
    stats = all(
        np.array_equal(a.true[s.name], b.true[s.name])
        and np.array_equal(a.random[s.name], b.random[s.name])
        for s in a.statistics
    )
    inputs = a.extras["inputs"]
    return stats and all(np.array_equal(inputs[i], b.extras["inputs"][i]) for i in inputs)


def test_fourier_images_are_in_range_seeded_and_climb(rgb):
    model, x, y, part = rgb
    res = ng.coherence(model, part, x, y, random_state=0, steps=10, **RGB_VIS)
    assert res.info["parameterization"] == "fourier"  # chosen for (C, H, W) images
    assert res.n_rows == 2
    for i in range(res.n_rows):
        images = res.extras["inputs"][i]
        assert images.shape == (1 + 3, 3, 8, 8)
        assert images.min() >= float(x.min()) and images.max() <= float(x.max())
        assert images.std() > 0.01
    assert _same(res, ng.coherence(model, part, x, y, random_state=0, steps=10, **RGB_VIS))
    assert not _same(res, ng.coherence(model, part, x, y, random_state=1, steps=10, **RGB_VIS))
    # Same start (same seed), more steps: every set's objective is higher.
    one = ng.coherence(model, part, x, y, random_state=0, steps=1, **RGB_VIS)
    assert np.all(res.true["objective"] > one.true["objective"])
    assert np.all(res.random["objective"] > one.random["objective"])


def test_fourier_colour_is_decorrelated_with_lucids_colour_matrix():
    g = torch.Generator().manual_seed(0)
    data = torch.rand(10, 3, 8, 8, generator=g) * 2 - 0.5
    colour, grey = parameterization("fourier", data), parameterization("fourier", data[:, :1])
    theta = 0.1 * torch.randn((300, 3, 8, 5, 2), generator=g, dtype=torch.float64)

    def before_squashing(param, images):  # invert lo + (hi - lo) * sigmoid(raw)
        p = (images - param.lo) / (param.hi - param.lo)
        return torch.log(p) - torch.log1p(-p)

    raw = before_squashing(colour, colour(theta))
    # Each channel made as a grey image is, then mixed by Lucid's matrix (its largest
    # column scaled to norm 1).
    channels = torch.cat([before_squashing(grey, grey(theta[:, c : c + 1])) for c in range(3)], 1)
    mix = LUCID_COLOUR_SQRT / np.linalg.norm(LUCID_COLOUR_SQRT, axis=0).max()
    expected = torch.einsum("ij,njhw->nihw", torch.from_numpy(mix), channels)
    torch.testing.assert_close(raw, expected, rtol=1e-7, atol=1e-9)
    # So the three colours are correlated as in natural images, not independent.
    corr = np.corrcoef(raw.transpose(0, 1).reshape(3, -1).numpy())
    cov = mix @ mix.T
    target = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.testing.assert_allclose(corr, target, atol=0.05)
    assert corr[0, 1] > 0.7 and corr[1, 2] > 0.7


def test_jitter_translates_and_scale_rescales_the_image_seeded():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    seen = set()
    for seed in range(10):
        out = _transform(x, 2, 0.0, torch.Generator().manual_seed(seed))
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(out, torch.roll(x, (dy, dx), (-2, -1)))
        ]
        assert len(shifts) == 1  # a translation by at most 2 pixels
        seen.add(shifts[0])
        assert torch.equal(out, _transform(x, 2, 0.0, torch.Generator().manual_seed(seed)))
    assert len(seen) > 1
    changed = 0
    for seed in range(10):
        out = _transform(x, 0, 0.3, torch.Generator().manual_seed(seed))
        assert out.shape == x.shape
        assert out.min() >= x.min() and out.max() <= x.max()  # bilinear: within range
        assert torch.equal(out, _transform(x, 0, 0.3, torch.Generator().manual_seed(seed)))
        changed += not torch.equal(out, x)
    assert changed > 0
    flat = torch.rand(4, 6)
    assert _transform(flat, 2, 0.3, torch.Generator().manual_seed(0)) is flat  # not images


def test_scale_zooms_about_the_centre():
    # A Gaussian blob at the centre, zoomed by s, has s times its spread (the size kept).
    n = 33
    r = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    blob = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 3.0**2))[None, None]

    def spread(img):
        w = img[0, 0].sum(dim=1)
        return float(torch.sqrt((w * r**2).sum() / w.sum()))

    factors = []
    for seed in range(12):
        s = 1.0 + (2 * torch.rand((), generator=torch.Generator().manual_seed(seed)).item() - 1)
        s = 1.0 + (s - 1.0) * 0.5  # the draw of _transform with scale=0.5
        out = _transform(blob, 0, 0.5, torch.Generator().manual_seed(seed))
        assert out.shape == blob.shape
        assert spread(out) / spread(blob) == pytest.approx(s, rel=0.03)
        factors.append(s)
    assert min(factors) < 0.8 and max(factors) > 1.2  # both ways were tried


def test_jitter_and_scale_in_coherence_are_seeded(rgb):
    model, x, y, part = rgb
    kw = dict(random_state=0, steps=6, jitter=1, scale=0.3, **RGB_VIS)
    res = ng.coherence(model, part, x, y, **kw)
    assert _same(res, ng.coherence(model, part, x, y, **kw))
    plain = ng.coherence(model, part, x, y, **dict(kw, jitter=0, scale=0.0))
    assert not _same(res, plain)  # the transforms change the optimisation
    for images in res.extras["inputs"].values():
        assert images.min() >= float(x.min()) and images.max() <= float(x.max())


def test_spatial_summary_is_the_visualisation_objective(rgb):
    # |mean over space| (the paper's) or the mean of |activation|: different objectives.
    model, x, y, part = rgb
    kw = dict(random_state=0, steps=4, **RGB_VIS)
    mean = ng.coherence(model, part, x, y, **kw)
    mean_abs = ng.coherence(model, part, x, y, spatial="mean_abs", **kw)
    assert not np.array_equal(mean.true["objective"], mean_abs.true["objective"])


def test_preprocess_runs_before_the_model_for_the_softmax_entropy(rgb):
    model, x, y, part = rgb

    def preprocess(v):
        return 3.0 * (0.5 - v)

    with torch.no_grad():  # it changes what the network predicts
        assert not torch.allclose(
            torch.softmax(model(x), 1), torch.softmax(model(preprocess(x)), 1)
        )
    res = ng.coherence(model, part, x, y, random_state=0, steps=6, preprocess=preprocess, **RGB_VIS)
    for i, row in enumerate(res.rows):
        images = torch.from_numpy(res.extras["inputs"][i])  # the set, then 3 of its controls
        with torch.no_grad():
            probs = torch.softmax(model(preprocess(images)).double(), 1)
            raw = torch.softmax(model(images).double(), 1)
            conv = model[:3](preprocess(images))  # layer "2" before its ReLU
        entropy = entropy_bits(probs).numpy()
        recorded = np.r_[res.true["softmax_entropy"][i], res.random["softmax_entropy"][i][:3]]
        np.testing.assert_allclose(recorded, entropy, rtol=1e-5)
        assert np.all(np.abs(entropy_bits(raw).numpy() - recorded) > 0.05)
        objective = conv.mean((2, 3))[0, row["units"]].abs().sum()
        assert res.true["objective"][i] == pytest.approx(float(objective), rel=1e-5)


def test_the_figure_of_a_non_image_input_is_a_bar_plot_in_a_valid_png(tmp_path):
    import matplotlib.image

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 6, generator=g)
    y = torch.randint(0, 3, (60,), generator=g)
    part = ng.Partition({"0": np.repeat([0, 1], 6)})
    ds = ng.coherence(model, part, x, y, n_random=4, n_null_partitions=0, random_state=0)
    vis = ng.coherence(model, part, x, y, random_state=0, steps=4, **RGB_VIS)
    assert vis.info["parameterization"] == "plain"
    fig = coherence_figure(x, "0", dataset=ds, visualization=vis)
    path = tmp_path / "features.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    drawn = [ax for ax in fig.axes if ax.has_data()]
    assert len(drawn) == 2 * (1 + 5 + 3)  # per sub-cluster: optimised, 5 examples, 3 controls
    for ax in drawn:
        assert not ax.images and len(ax.patches) == 6  # a bar per feature
    first = next(ax for ax in drawn if ax.get_title().startswith("optimised"))
    heights = [bar.get_height() for bar in first.patches]  # the first sub-cluster's input
    np.testing.assert_allclose(heights, vis.extras["inputs"][0][0], rtol=1e-6)


@pytest.fixture(scope="module")
def digits():
    from nngraph.models import pretrained, pretrained_data

    model, data = pretrained("mlp", hidden=(32, 32), epochs=10), pretrained_data("mlp")
    g = ng.weight_graph(model, data.x_train[:1])
    part = ng.Partition(ng.SpectralClustering(4, random_state=0).fit(g).labels_, g)
    return model, data, g, part


def test_same_seed_same_result_and_the_model_untouched(digits):
    model, data, _, part = digits
    model = copy.deepcopy(model).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    params[0].grad = torch.full_like(params[0], 0.5)  # the user's own gradient, kept as is
    kw = dict(method="visualization", n_random=4, n_null_partitions=2, random_state=3, steps=10)
    a = ng.coherence(model, part, data.x_test, data.y_test, **kw)
    b = ng.coherence(model, part, data.x_test, data.y_test, **kw)
    assert torch.equal(params[0].grad, torch.full_like(params[0], 0.5))
    assert all(p.grad is None for p in params[1:])
    for s in a.statistics:
        np.testing.assert_array_equal(a.true[s.name], b.true[s.name])
        np.testing.assert_array_equal(a.random[s.name], b.random[s.name])
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert a.info["parameterization"] == "plain" and a.info["steps"] == 10


def test_visualisation_progress_is_plain_lines_in_a_log(digits, capsys):
    model, data, _, part = digits
    kw = dict(method="visualization", n_random=2, n_null_partitions=0, random_state=0, steps=4)
    ng.coherence(model, part, data.x_test, data.y_test, progress=True, **kw)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("feature visualisation: 100% (")
    ng.coherence(model, part, data.x_test, data.y_test, **kw)
    assert capsys.readouterr().err == ""


class _Plain(nn.Module):
    def __init__(self, fc: nn.Linear, out: nn.Linear) -> None:
        super().__init__()
        self.fc, self.out = fc, out

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)))


class _WithMask(_Plain):
    """The same network, with forward arguments beyond the input (traced at defaults)."""

    def forward(self, x, mask=None, scale: float = 1.0):
        h = torch.relu(self.fc(x))
        if mask is not None:
            h = h * mask
        return self.out(h) * scale


@pytest.mark.parametrize("method", ["dataset", "visualization"])
def test_extra_forward_arguments_take_their_defaults(method, rng):
    fc, out = nn.Linear(64, 24), nn.Linear(24, 10)
    with torch.no_grad():
        for layer in (fc, out):
            layer.weight.copy_(torch.from_numpy(rng.normal(size=layer.weight.shape)))
    x = torch.from_numpy(rng.normal(size=(120, 64)).astype(np.float32))
    y = torch.arange(120) % 10
    part = ng.Partition({"fc": np.arange(24) % 3})
    kw = dict(method=method, n_random=4, n_null_partitions=0, random_state=0, steps=5)
    a = ng.coherence(_WithMask(fc, out).eval(), part, x, y, **kw)
    b = ng.coherence(_Plain(fc, out).eval(), part, x, y, **kw)
    for s in a.statistics:
        np.testing.assert_array_equal(a.true[s.name], b.true[s.name])
        np.testing.assert_array_equal(a.random[s.name], b.random[s.name])


def test_dataset_scores_match_a_loop_over_sets(digits):
    """The one product with the membership matrix equals scoring each set alone."""
    model, data, g, part = digits
    res = ng.coherence(model, part, data.x_test, data.y_test, n_random=3, random_state=0)
    row = res.rows[0]
    layer = model[int(row["layer"])]
    with torch.no_grad():
        acts = (
            layer(model[: int(row["layer"])](data.x_test))
            if int(row["layer"])
            else layer(data.x_test)
        )
    score = acts[:, row["units"]].abs().sum(1)
    top = torch.topk(score.double(), 10).indices.tolist()
    assert sorted(top) == sorted(row["top_examples"])


def test_figure(digits, tmp_path):
    model, data, _, part = digits
    ds = ng.coherence(model, part, data.x_test, data.y_test, n_random=4, random_state=0, min_size=2)
    vis = ng.coherence(
        model,
        part,
        data.x_test,
        data.y_test,
        method="visualization",
        n_random=4,
        random_state=0,
        steps=5,
    )
    layer = ds.rows[0]["layer"]
    fig = coherence_figure(data.x_test, layer, dataset=ds, visualization=vis, image_shape=(8, 8))
    fig.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 5000
    assert len(fig.axes) >= 1 + 5 + 3


def test_figure_keeps_its_pictures_when_a_row_has_no_examples(digits):
    """A sub-cluster too small for the data-set test gets a note, not a smaller figure.

    The note runs on over the empty cells to its right; counted by tight_layout, it
    widened every gap between columns and the pictures took 27% of their cells' width.
    """
    model, data, _, part = digits
    kw = dict(n_random=4, random_state=0)
    vis = ng.coherence(
        model, part, data.x_test, data.y_test, method="visualization", steps=5, min_size=2, **kw
    )
    layer = vis.rows[0]["layer"]
    sizes = sorted(r["size"] for r in vis.rows if r["layer"] == layer)
    assert sizes[0] < sizes[-1]
    ds = ng.coherence(model, part, data.x_test, data.y_test, min_size=sizes[-1], **kw)
    assert {r["size"] for r in ds.rows if r["layer"] == layer} == {sizes[-1]}
    fig = coherence_figure(data.x_test, layer, dataset=ds, visualization=vis, image_shape=(8, 8))
    n_cols = 1 + 5 + 3
    notes = [t for ax in fig.axes for t in ax.texts if "too small" in t.get_text()]
    assert len(notes) == sum(size < sizes[-1] for size in sizes)
    for ax in fig.axes:
        if ax.images:
            assert ax.get_position().width * n_cols > 0.6  # of its cell's width


@pytest.mark.slow
def test_dataset_statistic_is_calibrated_under_random_partitions(digits):
    model, data, g, _ = digits
    rng = np.random.default_rng(0)
    randomized, reported, combined = [], [], []
    for rep in range(1000):
        part = ng.Partition(rng.integers(0, 3, g.n_nodes), g)
        res = ng.coherence(model, part, data.x_test, data.y_test, random_state=rep)
        t, r = res.true["label_entropy"], res.random["label_entropy"]
        pv = empirical_pvalues(t, r, alternative="less")
        randomized += list((pv.n_more + rng.random(t.size) * (pv.n_ties + 1)) / (pv.n_random + 1))
        reported += [row["label_entropy_p"] for row in res.rows]
        combined.append(res.combined_p("label_entropy"))
    assert kstest(randomized, "uniform").pvalue > 0.01
    assert np.mean(np.array(reported) <= 0.05) < 0.08
    size = np.mean(np.array(combined) <= 0.05)
    assert 0.03 <= size <= 0.07, size


def test_bad_input(digits):
    model, data, _, part = digits
    with pytest.raises(
        ValueError, match=r"k=1000 top examples asked for, but the data set holds 450"
    ):
        ng.coherence(model, part, data.x_test, data.y_test, k=1000)
    with pytest.raises(ValueError, match="parameterization='fourier' needs images"):
        ng.coherence(
            model,
            part,
            data.x_test,
            data.y_test,
            method="visualization",
            parameterization="fourier",
        )
    tokens = nn.Sequential(nn.Embedding(20, 8), nn.Flatten(), nn.Linear(24, 4))
    with pytest.raises((ValueError, ng.UnsupportedModelError)):
        ng.coherence(
            tokens,
            part,
            torch.zeros(5, 3, dtype=torch.long),
            torch.zeros(5, dtype=torch.long),
            method="visualization",
        )
    from nngraph.proxies._visualization import parameterization as make

    with pytest.raises(ValueError, match="use method='dataset'"):
        make("plain", torch.zeros(5, 3, dtype=torch.long))
