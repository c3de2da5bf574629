"""Empirical p-values and their combination: exact counts, and calibration under the null."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control, kstest

from nngraph.stats._pvalues import (
    benjamini_hochberg,
    combine_across_networks,
    combine_dependent,
    combine_pvalues,
    empirical_pvalues,
)


def _loop_pvalues(true, random, greater=True):
    out = []
    for t, row in zip(true, random, strict=True):
        row = row[np.isfinite(row)]
        extreme = row >= t if greater else row <= t
        out.append((extreme.sum() + 1) / (row.size + 1))
    return np.array(out)


def test_counts_match_a_loop_and_ties_count_against(rng):
    true = rng.integers(0, 5, size=40).astype(float)
    random = rng.integers(0, 5, size=(40, 19)).astype(float)
    random[3, :4] = np.nan
    for alternative, greater in (("greater", True), ("less", False)):
        res = empirical_pvalues(true, random, alternative=alternative)
        np.testing.assert_allclose(res.p, _loop_pvalues(true, random, greater))
        assert np.all(res.p_mid < res.p) and res.n_random[3] == 15
    # The paper's code used strict inequalities: with every control tied, p must be 1.
    assert empirical_pvalues([1.0], [[1.0] * 19]).p[0] == 1.0


def test_rounding_noise_is_a_tie():
    res = empirical_pvalues([0.1 + 0.2], [[0.3, 0.0]])
    assert res.n_ties[0] == 1 and res.p[0] == pytest.approx(2 / 3)


def test_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        empirical_pvalues([1.0, 2.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="finite"):
        empirical_pvalues([np.nan], [[1.0]])
    with pytest.raises(ValueError, match="alternative"):
        empirical_pvalues([1.0], [[1.0]], alternative="two-sided")


def test_empirical_pvalues_are_uniform_under_the_null(rng):
    # Continuous statistics, true and random exchangeable: p uniform on {1..20}/20.
    draws = rng.standard_normal((20_000, 20))
    res = empirical_pvalues(draws[:, 0], draws[:, 1:])
    counts = np.bincount(np.rint(res.p * 20).astype(int), minlength=21)[1:]
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected in each bin


def _null_sizes(rng, m, n_random, levels, reps=2000):
    """Rejection rate at 0.05 of each combination under the null."""
    rejected = {method: 0 for method in ("fisher_exact", "fisher_halfbin")}
    for rep in range(reps):
        values = rng.integers(0, levels, size=(m, n_random + 1)).astype(float)
        pv = empirical_pvalues(values[:, 0], values[:, 1:])
        for method in rejected:
            comb = combine_pvalues(pv, method=method, n_draws=2000, random_state=rep)
            rejected[method] += comb.p <= 0.05
    return {k: v / reps for k, v in rejected.items()}


@pytest.mark.parametrize("m, levels", [(10, 1000), (30, 1000), (30, 6)])
def test_default_combination_has_size_alpha(rng, m, levels):
    """Check the default's size is within [0.03, 0.07]; with ties (levels=6) too.

    The paper's half-bin Fisher is conservative without ties.
    """
    sizes = _null_sizes(rng, m, 19, levels)
    assert 0.03 <= sizes["fisher_exact"] <= 0.07, sizes
    if levels > 100:
        assert sizes["fisher_halfbin"] < 0.045, sizes


def test_combination_finds_a_consistent_effect():
    pv = empirical_pvalues(np.full(12, 100.0), np.tile(np.arange(19.0), (12, 1)))
    for method in ("fisher_exact", "fisher_halfbin", "fisher_midp"):
        assert combine_pvalues(pv, method=method).p < 1e-3


def test_exact_combination_is_reproducible():
    pv = empirical_pvalues([1.0, 2.0, 2.0], [[1.0, 2.0, 3.0]] * 3)
    a = combine_pvalues(pv, random_state=3)
    b = combine_pvalues(pv, random_state=3)
    assert a == b


def test_across_networks_is_uniform_under_the_null(rng):
    combined = [combine_across_networks(rng.random(5)) for _ in range(3000)]
    assert kstest(combined, "uniform").pvalue > 0.01


def test_across_networks_matches_a_simulation(rng):
    p = np.array([0.2, 0.05, 0.4])
    sims = rng.random((200_000, 3)).mean(axis=1)
    assert combine_across_networks(p) == pytest.approx(np.mean(sims <= p.mean()), abs=3e-3)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        combine_across_networks([0.0, 0.5])


def test_benjamini_hochberg_matches_scipy_and_the_definition(rng):
    for _ in range(50):
        p = np.concatenate([rng.random(20) * 0.01, rng.random(30)])
        rejected, adjusted = benjamini_hochberg(p, 0.05)
        np.testing.assert_allclose(adjusted, false_discovery_control(p))
        order = np.sort(p)
        passing = np.flatnonzero(order <= 0.05 * np.arange(1, p.size + 1) / p.size)
        cutoff = order[passing.max()] if passing.size else -1.0
        np.testing.assert_array_equal(rejected, p <= cutoff)


def test_benjamini_hochberg_rejects_nothing_when_nothing_passes():
    rejected, _ = benjamini_hochberg([0.5, 0.7, 0.9, 0.06])
    assert not rejected.any()
    rejected, adjusted = benjamini_hochberg([np.nan, 0.001])
    assert rejected.tolist() == [False, True] and np.isnan(adjusted[0])


def test_an_infinite_control_is_the_most_extreme():
    p = empirical_pvalues([5.0], [[np.inf] * 18 + [0.0]]).p
    assert p.tolist() == [0.95]  # 18 controls above, 1 below, + 1
    p = empirical_pvalues([5.0], [[np.nan] * 18 + [0.0]]).p
    assert p.tolist() == [0.5]  # NaN controls are left out


def test_benjamini_hochberg_refuses_what_is_not_a_p_value():
    for bad in (-0.2, 1.7, np.inf):
        with pytest.raises(ValueError, match="must lie in"):
            benjamini_hochberg([0.01, bad])


def _shared_controls_null(rng, n_null=19, n_random=19):
    """Draw a partition and random partitions of three layers, against shared controls."""
    layers = [[4, 6, 10, 20], [3, 5, 8, 16], [2, 2, 6, 6]]
    values = [rng.normal(size=sum(s)) for s in layers]

    def partition():
        out = []
        for v, sizes in zip(values, layers, strict=True):
            order, cuts = rng.permutation(v.size), np.cumsum([0, *sizes])
            out += [v[order[cuts[i] : cuts[i + 1]]].mean() for i in range(len(sizes))]
        return np.array(out)

    controls = np.array(
        [
            [v[rng.choice(v.size, k, replace=False)].mean() for _ in range(n_random)]
            for v, sizes in zip(values, layers, strict=True)
            for k in sizes
        ]
    )
    true = empirical_pvalues(partition(), controls)
    return true, [empirical_pvalues(partition(), controls) for _ in range(n_null)]


def test_dependent_combination_has_size_alpha_with_shared_controls(rng):
    # The study's layout: the true partition is one more random partition, all against
    # the same controls. The default ("null_t") keeps its size; the rank is exact.
    ps = {"null_t": [], "partition_rank": []}
    for rep in range(400):
        true, null = _shared_controls_null(rng)
        out = combine_dependent(true, null, random_state=rep)
        for key in ps:
            ps[key].append(out[key].p)
    assert 0.025 <= np.mean(np.array(ps["null_t"]) <= 0.05) <= 0.075
    assert np.mean(np.array(ps["partition_rank"]) <= 0.05) <= 0.075


def test_dependent_combination_checks_its_null(rng):
    true, null = _shared_controls_null(rng)
    fewer = empirical_pvalues(true.p[:-1], np.ones((true.p.size - 1, 19)))
    with pytest.raises(ValueError, match="random partition 1 has 11 sub-clusters"):
        combine_dependent(true, [null[0], fewer])
    untied = empirical_pvalues([0.5, 1.5], [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    same = combine_dependent(untied, [untied] * 3)  # no spread: the rank
    assert same["null_t"].p == same["brown"].p == same["partition_rank"].p == 1.0
