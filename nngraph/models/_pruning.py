"""Magnitude pruning as the papers did it: a polynomial schedule of sparsity.

Filan et al. [1]_ and Hod et al. [2]_ prune their networks after training with
TensorFlow Model Optimization's ``prune_low_magnitude``: over extra fine-tuning epochs
the sparsity of every weight matrix (and convolution kernel; biases are not pruned)
rises from 50% to 90% along ``PolynomialDecay`` (power 3), the masks being updated
every 10 optimiser steps; a pruned weight is held at zero for the rest of training.

:class:`MagnitudePruner` does the same for ``nn.Linear`` and ``nn.Conv1d/2d/3d``
weights: :meth:`~MagnitudePruner.update` zeroes the smallest-magnitude fraction of each
layer's entries (ties broken by position, so it is deterministic), and
:meth:`~MagnitudePruner.apply` re-applies the masks after each optimiser step.

References
----------
.. [1] D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability
   in neural networks", arXiv:2103.03386, 2021.
.. [2] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
   modularity in deep neural networks", arXiv:2110.08058, 2021.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["MagnitudePruner", "polynomial_sparsity", "prunable_weights"]

_PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def polynomial_sparsity(
    step: int, total: int, *, start: float, final: float, power: float = 3.0
) -> float:
    """Return the sparsity of a polynomial schedule at ``step`` of ``total``.

    ``final + (start - final) * (1 - step / total) ** power``, held at ``final`` from
    ``step >= total`` on (TensorFlow Model Optimization's ``PolynomialDecay``).

    Parameters
    ----------
    step : int
        Optimiser steps since pruning began.
    total : int
        Steps over which the sparsity rises.
    start, final : float
        Sparsity at step 0 and from step ``total`` on.
    power : float, default=3.0
        Exponent of the schedule.

    Returns
    -------
    float

    Examples
    --------
    >>> polynomial_sparsity(0, 100, start=0.5, final=0.9)
    0.5
    >>> round(polynomial_sparsity(50, 100, start=0.5, final=0.9), 4)
    0.85
    >>> polynomial_sparsity(100, 100, start=0.5, final=0.9)
    0.9
    """
    if total <= 0 or step >= total:
        return float(final)
    frac = 1.0 - max(step, 0) / total
    return float(final + (start - final) * frac**power)


def prunable_weights(model: nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """List the weights magnitude pruning acts on: of ``Linear`` and ``Conv`` layers.

    Parameters
    ----------
    model : torch.nn.Module
        Any network.

    Returns
    -------
    list of (str, torch.nn.Parameter)
        Module path and weight, in ``named_modules`` order.

    Examples
    --------
    >>> from nngraph.models import mlp
    >>> [name for name, _ in prunable_weights(mlp(hidden=(8,)))]
    ['0', '2']
    """
    return [
        (name, m.weight)
        for name, m in model.named_modules()
        if isinstance(m, _PRUNABLE) and isinstance(getattr(m, "weight", None), nn.Parameter)
    ]


class MagnitudePruner:
    """Masks of the smallest-magnitude weights of each layer, kept at zero.

    Parameters
    ----------
    model : torch.nn.Module
        Its ``Linear`` and ``Conv`` weights are pruned (:func:`prunable_weights`).

    Attributes
    ----------
    masks : dict of str to torch.Tensor
        Per layer path, 1 where the weight is kept and 0 where it is pruned.

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Sequential(torch.nn.Linear(4, 5))
    >>> pruner = MagnitudePruner(layer)
    >>> pruner.update(0.5)
    >>> pruner.sparsity()["0"]
    0.5
    """

    def __init__(self, model: nn.Module) -> None:
        self._weights = prunable_weights(model)
        if not self._weights:
            raise ValueError(
                "nothing to prune: the model has no nn.Linear or nn.Conv1d/2d/3d weights"
            )
        self.masks = {name: torch.ones_like(w, dtype=torch.bool) for name, w in self._weights}

    @torch.no_grad()
    def update(self, sparsity: float) -> None:
        """Prune each layer to ``sparsity``: zero its ``round(sparsity * size)`` smallest entries.

        Entries pruned before have magnitude zero and so stay pruned (the schedule only
        rises); equal magnitudes are ranked by position, so masks are deterministic.
        """
        for name, w in self._weights:
            n_zero = int(round(float(sparsity) * w.numel()))
            w.mul_(self.masks[name])  # pruned entries are exactly 0 before ranking
            order = torch.argsort(w.detach().abs().flatten(), stable=True)
            mask = torch.ones(w.numel(), dtype=torch.bool, device=w.device)
            mask[order[:n_zero]] = False
            self.masks[name] = mask.reshape(w.shape)
            w.mul_(self.masks[name])

    @torch.no_grad()
    def apply(self) -> None:
        """Set the pruned weights to zero again (after an optimiser step)."""
        for name, w in self._weights:
            w.mul_(self.masks[name])

    def sparsity(self) -> dict[str, float]:
        """Return the fraction of each layer's weights that is zero now."""
        return {name: float((w.detach() == 0).double().mean()) for name, w in self._weights}

    def overall_sparsity(self) -> float:
        """Return the fraction of all prunable weights that is zero now."""
        zeros = sum(int((w.detach() == 0).sum()) for _, w in self._weights)
        return zeros / sum(w.numel() for _, w in self._weights)
