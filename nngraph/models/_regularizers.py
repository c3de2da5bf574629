"""Penalties added to the training loss: L1 and L2 on weights, and clusterability.

* :func:`weight_penalty` -- ``l1 * sum |w| + l2 * sum w**2`` over the weights of
  ``Linear`` and ``Conv`` layers (biases and batch norms excluded, as Keras'
  ``kernel_regularizer`` in the papers' code).
* :class:`ClusterabilityPenalty` -- the sum of the smallest eigenvalues of the
  normalised Laplacian of the network's weight graph, made differentiable: Filan et
  al.'s regulariser for promoting clusterability during training [1]_.

The clusterability penalty
--------------------------
For ``k`` clusters, the n-cut of any partition of a graph is at least the sum of the
``k`` smallest eigenvalues of its normalised Laplacian ``L = I - D^-1/2 A D^-1/2``
(the relaxation spectral clustering solves [2]_), and by Ky Fan's theorem that sum is
``min tr(U^T L U)`` over ``n x k`` matrices ``U`` with orthonormal columns, reached at
the eigenvectors. The penalty alternates the two minimisations, which is exactly the
gradient Filan et al. use (``d lambda_i = u_i^T dL u_i``, [1]_):

1. every ``refresh_every`` steps, ``U`` is set to the ``k`` eigenvectors of the current
   graph (a dense ``eigh``, without gradient);
2. at every step the penalty is ``tr(U^T L(W) U)``, differentiable in the weights
   through ``|W|`` and the degrees, an upper bound of the eigenvalue sum that is equal
   to it right after a refresh.

The trivial eigenvalue 0 is among the ``k``, so the penalty is the sum of the ``k - 1``
non-trivial ones, ``lambda_2 + ... + lambda_k``; as in [1]_ it is scaled by
``strength / (k - 1)`` (their ``cluster_lambda / num_cluster_eigs`` with
``num_cluster_eigs = k - 1``). Since the graph of a ReLU network changes under the
rescaling that leaves its function unchanged (a hidden unit's incoming weights times
``c``, its outgoing weights divided by ``c``), the penalty could be lowered without
making the network any more modular; so, as in [1]_, every hidden unit is rescaled
after each step so that its incoming weights and bias have norm ``sqrt(2)``
(:meth:`ClusterabilityPenalty.balance`), which leaves the function unchanged.

It works on multilayer perceptrons: an ``nn.Sequential`` of ``Linear``, ``ReLU``,
``Dropout`` and ``Identity`` modules (the graph is then the weight graph of
:func:`nngraph.weight_graph`, inputs and logits included).

References
----------
.. [1] D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability
   in neural networks", arXiv:2103.03386, 2021 (section "Promoting clusterability";
   their code: ``src/cluster_gradient.py`` and the ``NormalizeWeights`` callback of
   ``src/train_nn.py``).
.. [2] U. von Luxburg, "A tutorial on spectral clustering", Statistics and Computing
   17(4), 2007, section 5.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..utils._validation import check_int
from ._pruning import prunable_weights

__all__ = ["ClusterabilityPenalty", "spectral_clusterability", "weight_penalty"]

_PASS = (nn.ReLU, nn.Dropout, nn.Identity)


def weight_penalty(model: nn.Module, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    """Return ``l1 * sum |w| + l2 * sum w**2`` over the ``Linear`` and ``Conv`` weights.

    Parameters
    ----------
    model : torch.nn.Module
        Any network.
    l1, l2 : float, default=0.0
        Strengths (the papers' code: ``5e-5`` each, through Keras regularisers).

    Returns
    -------
    torch.Tensor
        A scalar, differentiable in the weights.

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = layer[0].weight.copy_(torch.tensor([[1.0, -2.0]]))
    >>> float(weight_penalty(layer, l1=0.5, l2=0.1).detach())
    2.0
    """
    weights = [w for _, w in prunable_weights(model)]
    total = weights[0].new_zeros(()) if weights else torch.zeros(())
    for w in weights:
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + l2 * w.pow(2).sum()
    return total


def _linear_chain(model: nn.Module) -> list[nn.Linear]:
    """Return the ``Linear`` layers of an MLP, checking that it is one."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            "the clusterability penalty works on multilayer perceptrons: an nn.Sequential of "
            f"Linear, ReLU, Dropout and Identity modules; got {type(model).__name__}"
        )
    linears: list[nn.Linear] = []
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            if linears and linears[-1].out_features != module.in_features:
                raise ValueError(f"layer {name!r} does not take the previous layer's outputs")
            linears.append(module)
        elif not isinstance(module, _PASS):
            raise ValueError(
                f"the clusterability penalty works on multilayer perceptrons (Linear, ReLU, "
                f"Dropout, Identity); module {name!r} is a {type(module).__name__}"
            )
    if len(linears) < 1:
        raise ValueError("the model has no Linear layer")
    return linears


def _degrees(blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Weighted degree of every unit, layer by layer, from the ``|W|`` blocks (out x in)."""
    deg = []
    for i in range(len(blocks) + 1):
        parts = []
        if i < len(blocks):
            parts.append(blocks[i].sum(0))  # edges to the next layer
        if i > 0:
            parts.append(blocks[i - 1].sum(1))  # edges from the previous layer
        deg.append(parts[0] if len(parts) == 1 else parts[0] + parts[1])
    return deg


def _inv_sqrt(d: torch.Tensor) -> torch.Tensor:
    return torch.where(d > 0, d.clamp_min(1e-300).rsqrt(), torch.zeros_like(d))


class ClusterabilityPenalty:
    """The sum of the smallest eigenvalues of the weight graph's normalised Laplacian.

    See the module's notes for the method. Call :meth:`refresh` to recompute the
    eigenvectors (done by :meth:`step_penalty` every ``refresh_every`` calls), the
    object itself for the differentiable penalty, and :meth:`balance` after each
    optimiser step.

    Parameters
    ----------
    model : torch.nn.Sequential
        A multilayer perceptron (``Linear``, ``ReLU``, ``Dropout``, ``Identity``).
    n_clusters : int, default=4
        ``k``: the penalty is ``lambda_2 + ... + lambda_k``, the relaxed n-cut of ``k``
        clusters (Filan et al. used ``k = 4``, three eigenvalues).
    refresh_every : int, default=10
        Optimiser steps between two eigen-decompositions.

    Attributes
    ----------
    eigenvalues : torch.Tensor
        The ``k`` smallest eigenvalues of the normalised Laplacian at the last refresh.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import mlp
    >>> torch.manual_seed(0) and None
    >>> model = mlp(4, (6,), 2)
    >>> pen = ClusterabilityPenalty(model, n_clusters=2)
    >>> value = pen.refresh()
    >>> bool(torch.isclose(pen(), torch.tensor(value, dtype=torch.float64)))
    True
    """

    def __init__(self, model: nn.Module, n_clusters: int = 4, refresh_every: int = 10) -> None:
        self.linears = _linear_chain(model)
        self.n_clusters = check_int("n_clusters", n_clusters, 2)
        self.refresh_every = check_int("refresh_every", refresh_every, 1)
        sizes = [self.linears[0].in_features] + [m.out_features for m in self.linears]
        if self.n_clusters > sum(sizes):
            raise ValueError(f"n_clusters={n_clusters} exceeds the {sum(sizes)} units")
        self._sizes = sizes
        self._u: list[torch.Tensor] = []
        self._calls = 0
        self.eigenvalues = torch.zeros(0, dtype=torch.float64)

    def _blocks(self) -> list[torch.Tensor]:
        return [m.weight.abs().double() for m in self.linears]

    @torch.no_grad()
    def refresh(self) -> float:
        """Recompute the eigenvectors of the current graph; return the penalty's value.

        Returns
        -------
        float
            ``lambda_2 + ... + lambda_k`` of the current graph.
        """
        blocks = self._blocks()
        deg = torch.cat(_degrees(blocks))
        n = deg.numel()
        offsets = [0]
        for s in self._sizes:
            offsets.append(offsets[-1] + s)
        a = torch.zeros(n, n, dtype=torch.float64, device=deg.device)
        for i, b in enumerate(blocks):
            rows = slice(offsets[i + 1], offsets[i + 2])
            cols = slice(offsets[i], offsets[i + 1])
            a[rows, cols] = b
            a[cols, rows] = b.T
        keep = torch.nonzero(deg > 0).flatten()
        k = min(self.n_clusters, keep.numel())
        s = deg[keep].rsqrt()
        m = s[:, None] * a[keep][:, keep] * s[None, :]
        values, vectors = torch.linalg.eigh(m)  # ascending: the largest of M last
        u = torch.zeros(n, self.n_clusters, dtype=torch.float64, device=deg.device)
        u[keep, :k] = vectors[:, -k:]
        self._u = [u[offsets[i] : offsets[i + 1]] for i in range(len(self._sizes))]
        self.eigenvalues = (1.0 - values[-k:]).flip(0).clamp_min(0.0)
        return float(self.eigenvalues.sum())

    def __call__(self) -> torch.Tensor:
        """Return ``tr(U^T L(W) U)`` with the last refresh's ``U``, differentiable in ``W``."""
        if not self._u:
            self.refresh()
        blocks = self._blocks()
        inv = [_inv_sqrt(d) for d in _degrees(blocks)]
        active = sum(
            (u[d > 0] ** 2).sum() for u, d in zip(self._u, (i.detach() for i in inv), strict=True)
        )
        cross = blocks[0].new_zeros(())
        for i, b in enumerate(blocks):
            left = inv[i + 1][:, None] * self._u[i + 1]
            right = inv[i][:, None] * self._u[i]
            cross = cross + (left * (b @ right)).sum()
        return active - 2.0 * cross

    def step_penalty(self) -> torch.Tensor:
        """Refresh every ``refresh_every`` calls, then return the penalty (:meth:`__call__`)."""
        if self._calls % self.refresh_every == 0:
            self.refresh()
        self._calls += 1
        return self()

    @torch.no_grad()
    def balance(self) -> None:
        """Rescale each hidden unit: incoming weights and bias to norm ``sqrt(2)``.

        The outgoing weights are multiplied by the same factor, so a ReLU network
        computes the same function (Filan et al.'s ``NormalizeWeights``).
        """
        for lin, nxt in zip(self.linears[:-1], self.linears[1:], strict=True):
            sq = lin.weight.pow(2).sum(1)
            if lin.bias is not None:
                sq = sq + lin.bias.pow(2)
            scale = sq.sqrt() / math.sqrt(2.0)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            lin.weight.div_(scale[:, None])
            if lin.bias is not None:
                lin.bias.div_(scale)
            nxt.weight.mul_(scale[None, :])


def spectral_clusterability(model: nn.Module, n_clusters: int = 4) -> float:
    """Return ``lambda_2 + ... + lambda_k`` of the normalised Laplacian of an MLP's weight graph.

    The relaxed n-cut of ``k`` clusters: a lower bound of the n-cut of any partition
    into ``k`` clusters. What :class:`ClusterabilityPenalty` lowers during training.

    Parameters
    ----------
    model : torch.nn.Sequential
        A multilayer perceptron (``Linear``, ``ReLU``, ``Dropout``, ``Identity``).
    n_clusters : int, default=4
        ``k``.

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.eye(2))   # two separate edges
    >>> spectral_clusterability(model, n_clusters=2)
    0.0
    """
    return ClusterabilityPenalty(model, n_clusters).refresh()
