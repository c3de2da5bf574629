"""Empirical p-values against random controls, and their combination.

The statistics of the importance and coherence tests (``docs/method.md``, sections 4
and 5).

Every proxy compares a statistic of a true set of units with the same statistic of
``N`` random sets. This module turns such comparisons into p-values and combines them:

* :func:`empirical_pvalues` -- one-sided ``(#{random at least as extreme} + 1) / (N + 1)``,
  ties counted against the true set (the research code used strict inequalities, which
  is anti-conservative for discrete statistics such as accuracies); the counts behind it
  are kept, so that a combination can break ties at random instead.
* :func:`combine_pvalues` -- over the sub-clusters of one network: Fisher's statistic
  against its exact null for discrete p-values (the default: its size is alpha up to the
  Monte-Carlo error), or the paper's Fisher with a half-bin shift (conservative: about
  0.03 at alpha = 0.05), or Fisher on mid-p values.
* :func:`combine_across_networks` -- the mean of several networks' p-values against the
  Bates distribution (the mean of ``m`` uniforms).
* :func:`benjamini_hochberg` -- which rows of a table are rejected at a false discovery
  rate (all False when none pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..utils._validation import check_alpha, check_choice, check_int, seed_from

__all__ = [
    "COMBINATIONS",
    "CombinedPValue",
    "EmpiricalPValues",
    "benjamini_hochberg",
    "combine_across_networks",
    "combine_dependent",
    "combine_pvalues",
    "empirical_pvalues",
]

COMBINATIONS = ("fisher_exact", "fisher_halfbin", "fisher_midp")


@dataclass(frozen=True)
class EmpiricalPValues:
    """One-sided empirical p-values of true statistics against random controls.

    Attributes
    ----------
    p : ndarray, shape (n,)
        ``(n_more + n_ties + 1) / (n_random + 1)``: ties count against the true set.
    p_mid : ndarray, shape (n,)
        The mid-p value ``(n_more + (n_ties + 1) / 2) / (n_random + 1)``.
    n_more : ndarray of int, shape (n,)
        Random controls strictly more extreme than the true statistic.
    n_ties : ndarray of int, shape (n,)
        Random controls equal to it.
    n_random : ndarray of int, shape (n,)
        Random controls compared with (NaN controls are left out).
    """

    p: np.ndarray
    p_mid: np.ndarray
    n_more: np.ndarray
    n_ties: np.ndarray
    n_random: np.ndarray


def empirical_pvalues(
    true: Any, random: Any, *, alternative: str = "greater", rtol: float = 1e-12
) -> EmpiricalPValues:
    """Empirical p-values of ``true[i]`` against the controls ``random[i, :]``.

    Parameters
    ----------
    true : array-like, shape (n,)
        The statistic of each true set.
    random : array-like, shape (n, n_random)
        The statistic of each one's random controls; NaN controls are left out (an
        infinite one counts, as the most extreme).
    alternative : {"greater", "less"}, default="greater"
        Which direction is extreme: ``"greater"`` when a larger statistic means a more
        important / coherent set (a larger accuracy drop), ``"less"`` otherwise.
    rtol : float, default=1e-12
        Values within ``rtol`` (relative) of each other are ties, so that the rounding of
        a float sum does not decide a comparison.

    Returns
    -------
    EmpiricalPValues

    References
    ----------
    .. [1] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
       modularity in deep neural networks", arXiv:2110.08058, 2021.

    Examples
    --------
    >>> res = empirical_pvalues([3.0, 1.0], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    >>> res.p.tolist(), res.n_ties.tolist()
    ([0.5, 1.0], [1, 1])
    """
    check_choice("alternative", alternative, ("greater", "less"))
    t = np.asarray(true, dtype=np.float64).reshape(-1)
    r = np.asarray(random, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != t.size:
        raise ValueError(
            f"random must have shape (n, n_random) with n = {t.size} true statistics, got {r.shape}"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError("true statistics must be finite")
    sign = 1.0 if alternative == "greater" else -1.0
    t, r = sign * t, sign * r
    valid = ~np.isnan(r)  # an infinite control is an extreme one, not a missing one
    finite = np.isfinite(r)
    tol = rtol * np.maximum(np.abs(t)[:, None], np.abs(np.where(finite, r, 0.0)))
    ties = finite & (np.abs(r - t[:, None]) <= tol)
    more = valid & ~ties & (r > t[:, None])
    n_more = more.sum(axis=1)
    n_ties = ties.sum(axis=1)
    n_random = valid.sum(axis=1)
    denominator = n_random + 1.0
    p = (n_more + n_ties + 1.0) / denominator
    p_mid = (n_more + (n_ties + 1.0) / 2.0) / denominator
    return EmpiricalPValues(p, p_mid, n_more, n_ties, n_random)


@dataclass(frozen=True)
class CombinedPValue:
    """A combined p-value and how it was obtained.

    Attributes
    ----------
    p : float
        The combined p-value.
    statistic : float
        Fisher's ``-2 sum log p`` on the p-values the method uses.
    method : str
        One of :data:`COMBINATIONS`.
    n : int
        Number of p-values combined.
    """

    p: float
    statistic: float
    method: str
    n: int


def combine_pvalues(
    pvalues: EmpiricalPValues,
    *,
    method: str = "fisher_exact",
    n_draws: int = 20_000,
    random_state: Any = 0,
) -> CombinedPValue:
    """Combine the empirical p-values of one network's sub-clusters into one.

    Parameters
    ----------
    pvalues : EmpiricalPValues
        From :func:`empirical_pvalues`.
    method : {"fisher_exact", "fisher_halfbin", "fisher_midp"}, default="fisher_exact"
        - ``"fisher_exact"``: ties among a sub-cluster's statistics are broken at random
          (seeded), which makes each p-value exactly uniform on its grid
          ``{1, ..., N + 1} / (N + 1)`` under the null; Fisher's ``-2 sum log p`` is then
          compared with its exact null for such discrete p-values, simulated with
          ``n_draws`` draws. Its size is alpha, up to the Monte-Carlo error and the
          discreteness of the statistic.
        - ``"fisher_halfbin"``: the paper's: each p shifted down by half a bin,
          ``p - 1 / (2 (N + 1))``, against the chi-squared distribution with ``2m``
          degrees of freedom. Conservative (size about 0.03 at alpha = 0.05 with 10-50
          sub-clusters and N = 19).
        - ``"fisher_midp"``: Fisher on the mid-p values against chi-squared ``2m``.
    n_draws : int, default=20000
        Draws of the null for ``"fisher_exact"``.
    random_state : None, int or numpy Generator, default=0
        Seeds the tie-breaking and the null draws of ``"fisher_exact"``.

    Returns
    -------
    CombinedPValue

    References
    ----------
    .. [1] R. A. Fisher, *Statistical Methods for Research Workers*, 1932, section 21.1.
    .. [2] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
       modularity in deep neural networks", arXiv:2110.08058, 2021.

    Examples
    --------
    >>> pv = empirical_pvalues([5.0, 5.0, 5.0], [[0, 1, 2, 3]] * 3)
    >>> combine_pvalues(pv).p < 0.01
    True
    """
    check_choice("method", method, COMBINATIONS)
    n_draws = check_int("n_draws", n_draws, 1)
    from scipy.stats import chi2

    m = int(pvalues.p.size)
    if m == 0:
        raise ValueError("no p-values to combine")
    grid = pvalues.n_random + 1.0
    if method == "fisher_halfbin":
        p = pvalues.p - 0.5 / grid
        stat = float(-2.0 * np.log(p).sum())
        return CombinedPValue(float(chi2.sf(stat, 2 * m)), stat, method, m)
    if method == "fisher_midp":
        stat = float(-2.0 * np.log(pvalues.p_mid).sum())
        return CombinedPValue(float(chi2.sf(stat, 2 * m)), stat, method, m)
    rng = np.random.default_rng(seed_from(random_state))
    # Random tie-break: the true set's rank among its ties is uniform.
    stat = _fisher_tie_broken(pvalues, rng)
    null = np.zeros(n_draws)
    for size in np.unique(grid):  # p-values on the same grid are drawn together
        count = int(np.count_nonzero(grid == size))
        draws = rng.integers(1, int(size) + 1, size=(n_draws, count))
        null += -2.0 * np.log(draws / size).sum(axis=1)
    exceed = int(np.count_nonzero(null >= stat * (1 - 1e-12)))
    return CombinedPValue((exceed + 1.0) / (n_draws + 1.0), stat, method, m)


def _tie_broken(pvalues: EmpiricalPValues, rng: np.random.Generator) -> np.ndarray:
    """Break ties at random: the p-values become exactly uniform on ``{1..N+1}/(N+1)``."""
    rank = pvalues.n_more + 1 + np.floor(rng.random(pvalues.p.size) * (pvalues.n_ties + 1))
    return rank / (pvalues.n_random + 1.0)


def _fisher_tie_broken(pvalues: EmpiricalPValues, rng: np.random.Generator) -> float:
    """Fisher's statistic ``-2 sum log p`` of the p-values with ties broken at random."""
    return float(-2.0 * np.log(_tie_broken(pvalues, rng)).sum())


def combine_dependent(
    pvalues: EmpiricalPValues,
    null: list[EmpiricalPValues],
    *,
    random_state: Any = 0,
) -> dict[str, CombinedPValue]:
    """Combine p-values that depend on each other, with their dependence measured.

    The sub-clusters of one partition are disjoint: in a layer they share out its units,
    so their p-values are negatively correlated and Fisher's method, which assumes
    independence, is conservative (a size of about 0.02 at alpha = 0.05 under random
    partitions). Here the null of Fisher's statistic is measured instead: ``null``
    holds the p-values of the sub-clusters of random partitions of the same sizes
    (against the same controls), and Fisher's statistic ``T = -2 sum log p`` (ties
    broken at random) is compared with the random partitions' values ``T_b``:

    - ``"null_t"`` (the default): the cube root of ``T`` (Wilson and Hilferty's
      transform, which makes chi-squared-like statistics nearly normal) against a
      Student t prediction from the ``T_b``'s cube roots: ``t = (T^(1/3) - mean) /
      (sd sqrt(1 + 1/B))`` with ``B - 1`` degrees of freedom, for ``B`` random
      partitions (their mean and spread are estimated, hence t). Size under random
      partitions in simulation: 0.047-0.056 at 0.05, 0.010-0.017 at 0.01 (19
      partitions);
    - ``"brown"``: a scaled chi-squared ``c * chi2(f)`` with the ``T_b``'s mean and
      variance (Brown's method for dependent p-values, both moments measured: the
      controls are shared, so the exact unconditional mean of ``T`` is not the one the
      random partitions vary around). Somewhat anti-conservative with 19 partitions
      (0.067-0.070 at 0.05 in the same simulation);
    - ``"partition_rank"``: the rank of ``T`` among the ``T_b``,
      ``(#{T_b >= T} + 1) / (B + 1)`` (exact, but never below ``1 / (B + 1)``).

    When the ``T_b`` do not vary, both approximations give the rank.

    Parameters
    ----------
    pvalues : EmpiricalPValues
        The partition's sub-clusters against their controls.
    null : list of EmpiricalPValues
        For each random partition, its sub-clusters (in the same order, same sizes)
        against the same controls; at least 2.
    random_state : None, int or numpy Generator, default=0
        Seeds the tie-breaking.

    Returns
    -------
    dict of str to CombinedPValue
        ``"null_t"``, ``"brown"`` and ``"partition_rank"``.

    References
    ----------
    .. [1] M. B. Brown, "A method for combining non-independent, one-sided tests of
       significance", Biometrics 31, 1975.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> def pv(shift):
    ...     return empirical_pvalues(rng.normal(shift, 1, 8), rng.normal(0, 1, (8, 19)))
    >>> out = combine_dependent(pv(3.0), [pv(0.0) for _ in range(19)])
    >>> out["null_t"].p < 1e-3, out["brown"].p < 1e-4, out["partition_rank"].p
    (True, True, 0.05)
    """
    from scipy.stats import chi2
    from scipy.stats import t as student_t

    if len(null) < 2:
        raise ValueError("the dependent combination needs at least 2 random partitions")
    m = int(pvalues.p.size)
    for b, q in enumerate(null):
        if q.p.size != m:
            raise ValueError(
                f"random partition {b} has {q.p.size} sub-clusters, the partition {m}: "
                "the null needs the same sub-clusters (sizes) against the same controls"
            )
    rng = np.random.default_rng(seed_from(random_state))
    stat = _fisher_tie_broken(pvalues, rng)
    null_stats = np.array([_fisher_tie_broken(q, rng) for q in null])
    n_null = len(null)
    rank = (np.count_nonzero(null_stats >= stat * (1 - 1e-12)) + 1.0) / (n_null + 1.0)
    mean, var = float(np.mean(null_stats)), float(np.var(null_stats, ddof=1))
    if var > 0 and mean > 0:
        scale, dof = var / (2.0 * mean), 2.0 * mean * mean / var
        brown = float(chi2.sf(stat / scale, dof))
    else:
        brown = float(rank)
    roots = np.cbrt(null_stats)
    spread = float(np.std(roots, ddof=1))
    if spread > 0:
        z = (np.cbrt(stat) - roots.mean()) / (spread * np.sqrt(1.0 + 1.0 / n_null))
        null_t = float(student_t.sf(z, n_null - 1))
    else:
        null_t = float(rank)
    return {
        "null_t": CombinedPValue(null_t, stat, "null_t", m),
        "brown": CombinedPValue(brown, stat, "brown", m),
        "partition_rank": CombinedPValue(float(rank), stat, "partition_rank", m),
    }


def combine_across_networks(pvalues: Any) -> float:
    """Combine the p-values of several independently trained networks.

    Under the null the p-values are independent uniforms; their mean follows the Bates
    distribution (the Irwin-Hall distribution of their sum, divided by ``m``). The
    combined p-value is the probability of a mean at most the observed one.

    Parameters
    ----------
    pvalues : array-like, shape (m,)
        One p-value per network, in ``(0, 1]``.

    Returns
    -------
    float

    References
    ----------
    .. [1] G. E. Bates, "Joint distributions of time intervals for the occurrence of
       successive accidents in a generalized Polya urn scheme", Annals of Mathematical
       Statistics 26, 1955.

    Examples
    --------
    >>> round(combine_across_networks([0.5]), 6)
    0.5
    >>> round(combine_across_networks([0.1, 0.1]), 6)   # P(U1 + U2 <= 0.2) = 0.2**2 / 2
    0.02
    """
    from scipy.stats import irwinhall

    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("no p-values to combine")
    if not np.all((p > 0) & (p <= 1)):
        raise ValueError(f"p-values must be in (0, 1], got {p.tolist()}")
    return float(irwinhall(p.size).cdf(p.sum()))


def benjamini_hochberg(pvalues: Any, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Which hypotheses are rejected at false discovery rate ``alpha`` (step-up).

    Parameters
    ----------
    pvalues : array-like, shape (n,)
        In ``[0, 1]`` (else ``ValueError``); NaN entries are never rejected and do not
        count as tests.
    alpha : float, default=0.05
        The false discovery rate.

    Returns
    -------
    rejected : ndarray of bool, shape (n,)
        All False when no p-value passes (the research code's helper returned a
        critical value of 1.0 then, flagging everything).
    adjusted : ndarray, shape (n,)
        Benjamini-Hochberg adjusted p-values (``rejected == adjusted <= alpha``).

    References
    ----------
    .. [1] Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate: a practical
       and powerful approach to multiple testing", Journal of the Royal Statistical Society
       B 57, 1995.

    Examples
    --------
    >>> rejected, adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    >>> rejected.tolist()
    [True, False, False, False]
    >>> benjamini_hochberg([0.2, 0.9])[0].tolist()
    [False, False]
    """
    alpha = check_alpha(alpha)
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    outside = ~np.isnan(p) & ~((p >= 0.0) & (p <= 1.0))
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        raise ValueError(f"p-values must lie in [0, 1] (NaN: no test), got {p[bad]} at {bad}")
    rejected = np.zeros(p.size, dtype=bool)
    adjusted = np.full(p.size, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size == 0:
        return rejected, adjusted
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted[order] = np.minimum(adj, 1.0)
    rejected[order] = adj <= alpha
    return rejected, adjusted
