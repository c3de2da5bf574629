"""The papers' numbers that benchmarks/study_findings.py sets its results beside.

Clusterability: the per-network z-scores of the authors' own result files (repository
``dfilan/clusterability_in_neural_networks``, ``results/clustering_factors_mlp.csv``
and ``results/clustering_factors_clust_grad.csv``), whose means are the numbers of
Filan et al., *Clusterability in Neural Networks* (arXiv:2103.03386): MNIST MLPs
784-256x4-10, k = 12, 50 shuffles of the "layer" null, five networks per setting
(ten for the regulariser, on a 49-64x3-10 MLP of 7x7 MNIST).

Proxies: Hod et al., *Detecting Modularity in Deep Neural Networks*
(arXiv:2110.08058), as summarised in ``../shared/method.md``, section 6.
"""

from __future__ import annotations

import numpy as np

# setting -> per-network z, mean n-cut and null n-cut, what the paper trained, and the
# mean z of the control the setting is to be compared with when it is not "plain"
_MNIST = "784-256x4-10, MNIST"
_SMALL = "49-64x3-10, 7x7 MNIST"


def _row(z: list[float], ncut: float, null: float, trained: str, control: float | None = None):
    return {"z": z, "ncut": ncut, "null": null, "trained": trained, "control": control}


CLUSTERABILITY = {
    "plain": _row([-5.124, -2.683, -4.626, -5.589, -4.333], 10.02, 10.17, _MNIST),
    "dropout": _row([-2.287, -3.089, -2.806, -3.178, -3.528], 9.97, 10.30, _MNIST),
    "pruned": _row([-10.562, -9.734, -9.181, -7.896, -10.978], 8.88, 9.18, _MNIST),
    "dropout + pruned": _row([-29.214, -22.322, -28.654, -18.689, -20.912], 8.35, 9.25, _MNIST),
    "L1": _row([16.715, 19.003, 17.381, 16.223, 20.800], 9.06, 6.50, _MNIST),
    "regulariser": _row(
        [5.095, 0.500, 3.246, -2.185, 1.450, -0.042, 7.047, 0.748, 8.470, 2.791],
        8.93,
        8.14,
        _SMALL + ", 10 networks",
        control=-0.49,  # their plain 49-64x3-10 networks
    ),
}

# The two-digit task: the authors' "halves" data set, two different MNIST digits side
# by side, one head per digit.
TWO_DIGITS = {
    "plain": _row([-4.687, -19.880, -4.099, -3.891, -3.481], 9.87, 10.31, "halves of MNIST"),
    "pruned 90%": _row(
        [-20.711, -20.343, -29.877, -21.527, -20.159], 8.46, 9.18, "halves of MNIST", -7.21
    ),
}

# Hod et al. (v2), lesions: combined p-values of weight-graph partitions of pruned MNIST
# MLPs; feature visualisation: not significant on MNIST MLPs.
PROXIES = {
    "importance": "combined p 3e-9 to 4e-7 (pruned MNIST MLPs, weight graphs)",
    "dataset": "more coherent than random sets, far more often than chance",
    "visualization": "not significant on MNIST MLPs",
}


def paper_z(setting: str, table: dict | None = None) -> float | None:
    """Return the mean z of the papers' networks for a setting (None if not published)."""
    row = (table or CLUSTERABILITY).get(setting)
    return None if row is None else float(np.mean(row["z"]))


def paper_control(setting: str, table: dict | None = None) -> float | None:
    """Return the mean z of the control a setting is compared with in the paper."""
    table = table or CLUSTERABILITY
    row = table.get(setting)
    if row is None:
        return None
    return row["control"] if row["control"] is not None else paper_z("plain", table)


def verdict(
    ours: float, paper: float | None, control_ours: float | None, control_paper: float | None
) -> tuple[str, str]:
    """Say whether the direction and the size of a finding are reproduced.

    Direction: the sign of z agrees and, for a setting with a control (other than plain
    training), so does the sign of its difference from the control. Size: our mean z
    within a factor of 2 of the paper's.
    """
    if paper is None or not np.isfinite(ours):
        return "n/a", "n/a"
    same_sign = np.sign(ours) == np.sign(paper)
    if control_ours is None or control_paper is None:
        direction = same_sign
    else:
        direction = same_sign and np.sign(ours - control_ours) == np.sign(paper - control_paper)
    ratio = ours / paper if paper else np.inf
    size = bool(direction) and 0.5 <= ratio <= 2.0
    return ("yes" if direction else "no"), ("yes" if size else f"no ({ratio:.2g}x)")
