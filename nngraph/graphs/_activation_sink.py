"""Where a pass over the data leaves the activations: statistics, then the adjacency.

The recorder hands over each batch as an ``(n_examples, n_units)`` float64 array, or as
a float64 tensor on the model's GPU. Dense Pearson correlation needs only running
moments, kept where the batch is (on the GPU: :mod:`._device_correlation`, whose
statistics reach the host once, at the end); Spearman (ranks) and the k-nearest-
neighbour graph need the activations themselves, held on the host within the memory
budget. Either way the sink decides which units are dead (no spread beyond rounding
noise) and builds the adjacency from what it holds.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ._byte_sizes import human_bytes
from ._correlation import DEAD_RTOL, CorrelationAccumulator, rank_columns
from ._correlation_graph import dense_adjacency, knn_adjacency, standardize_rows
from ._device_correlation import DeviceCorrelationAccumulator

__all__ = ["ActivationSink", "rounding_rtol"]


def rounding_rtol(dtype: torch.dtype) -> float:
    """Relative spread below which a unit is constant: the rounding noise of ``dtype``.

    A float32 matrix product may round the same input differently in different rows of
    a batch (about one unit in the last place); such a unit must count as dead, not as
    a unit whose correlations are those of rounding noise.

    Parameters
    ----------
    dtype : torch.dtype
        The dtype the model computes in.

    Returns
    -------
    float
        Twice the dtype's machine epsilon, at least :data:`DEAD_RTOL`.

    Examples
    --------
    >>> import torch
    >>> rounding_rtol(torch.float32) == 2 * torch.finfo(torch.float32).eps
    True
    """
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else 0.0
    return max(DEAD_RTOL, 2.0 * eps)


class ActivationSink:
    """Takes each batch's ``(n_examples, n_units)`` activations; builds the adjacency.

    Dense Pearson streams into a :class:`CorrelationAccumulator`. Spearman and k-NN
    keep the activations (float64 for Spearman's ranks; float32 shifted by the first
    batch's mean for Pearson k-NN, beside an O(n_units) accumulator that finds the dead
    units exactly).

    Parameters
    ----------
    layer_sizes : list of int
        Units per recorded layer, in column order (dead units are judged per layer).
    method : {"pearson", "spearman"}
        The correlation.
    knn : bool
        Whether the graph will be a k-nearest-neighbour graph (:meth:`knn`) rather
        than a dense one (:meth:`dense`).
    budget : float
        ``max_memory`` in bytes.
    graph_bytes : float
        The dense graph's share of the budget (0 for k-NN), counted against the held
        activations.
    model_dtype : torch.dtype
        The dtype the model computes in: its rounding noise decides which units are dead.
    exact : list of bool, optional
        Per layer, whether its values are the data themselves (the input), free of the
        model's rounding: there a unit is dead only when it is constant (its spread at
        most 1e-12 of its mean, the accumulation's own rounding).

    Examples
    --------
    >>> import numpy as np, torch
    >>> sink = ActivationSink([2, 1], method="pearson", knn=False, budget=2**20,
    ...                       graph_bytes=0, model_dtype=torch.float64)
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> x[:, 2] = 7.0                                      # a dead unit
    >>> x[:, 1] = 2 * x[:, 0] + 1                          # perfectly correlated with unit 0
    >>> sink.update(x[:20]); sink.update(x[20:])
    >>> adjacency, dead = sink.dense("square", None)
    >>> dead.tolist(), round(float(adjacency[0, 1]), 12)
    ([False, False, True], 1.0)
    """

    def __init__(
        self,
        layer_sizes: list[int],
        *,
        method: str,
        knn: bool,
        budget: float,
        graph_bytes: float,
        model_dtype: torch.dtype,
        exact: list[bool] | None = None,
    ) -> None:
        n = int(sum(layer_sizes))
        self.layer_sizes, self.dead_rtol = list(layer_sizes), rounding_rtol(model_dtype)
        self.exact = list(exact) if exact is not None else [False] * len(self.layer_sizes)
        self.n, self.method, self.budget = n, method, budget
        self.fixed_bytes = graph_bytes  # the dense graph's share of the budget
        self.n_samples = 0
        self.hold = knn or method == "spearman"
        # Dense Pearson: the full statistics. Otherwise per-unit moments of the values,
        # which decide which units are dead (Spearman and k-NN alike).
        dense_pearson = method == "pearson" and not knn
        self.acc = CorrelationAccumulator(n, cross=dense_pearson)
        self.device_acc: DeviceCorrelationAccumulator | None = None  # for GPU batches
        self.chunks: list[np.ndarray] = []
        self.shift: np.ndarray | None = None
        self.dtype = np.float64 if method == "spearman" else np.float32
        # Bytes per held value at the peak: the held values, then (k-NN) the standardised
        # points and their negations in float32.
        itemsize = np.dtype(self.dtype).itemsize
        self.peak_per_value = itemsize + (8 if knn and method == "spearman" else 0)
        if knn and method == "pearson":
            self.peak_per_value = 8

    def update(self, values: np.ndarray | torch.Tensor) -> None:
        """Take one batch's activations.

        Parameters
        ----------
        values : ndarray or torch.Tensor of float64, shape (n_examples, n_units)
            The batch, units in column order. A tensor (on a GPU) feeds statistics kept
            on its device when the sink needs only those (dense Pearson); otherwise it
            is copied to the host.

        Raises
        ------
        ValueError
            The held activations (with the graph's share) would exceed the budget.
        """
        if isinstance(values, torch.Tensor):
            if not self.hold:
                if self.device_acc is None:
                    self.device_acc = DeviceCorrelationAccumulator(self.n, values.device)
                    self.acc = None  # the statistics live on the device until the end
                self.device_acc.update(values)
                self.n_samples += values.shape[0]
                return
            values = values.cpu().numpy()
        self.n_samples += values.shape[0]
        self.acc.update(values)
        if not self.hold:
            return
        needed = self.n_samples * self.n * self.peak_per_value + self.fixed_bytes
        if needed > self.budget:
            what = "Spearman correlation" if self.method == "spearman" else "n_neighbors"
            raise ValueError(
                f"{what} holds the activations in memory: {self.n_samples} examples x "
                f"{self.n} units need about {human_bytes(needed)} so far (with the graph), "
                f"more than max_memory ({human_bytes(self.budget)}); use fewer examples, "
                + ("method='pearson', " if self.method == "spearman" else "")
                + "or raise max_memory"
            )
        if self.dtype == np.float32:
            if self.shift is None:
                self.shift = values.mean(axis=0)
            values = values - self.shift
        self.chunks.append(values.astype(self.dtype, copy=False))

    def dead_units(self) -> np.ndarray:
        """Units whose spread is zero or below the rounding noise of their layer.

        The noise of a unit's value is relative to the magnitude of the terms summed
        into it, not to its mean (a mean near 0 may come from cancelling terms), so the
        reference magnitude is the larger of the unit's ``|mean|`` and the median RMS
        value of its layer's units. The input's values are the data, not computed: there
        only a constant unit is dead.

        Returns
        -------
        ndarray of bool, shape (n_units,)
        """
        if self.device_acc is not None:  # bring the GPU's statistics to the host, once
            self.acc, self.device_acc = self.device_acc.to_host(), None
        mean, var = self.acc.mean, self.acc.variance()
        std = np.sqrt(var)
        rms = np.sqrt(mean * mean + var)
        sizes = np.asarray(self.layer_sizes)
        starts = np.cumsum(sizes) - sizes
        layer_scale = [np.median(rms[a : a + n]) for a, n in zip(starts, sizes, strict=True)]
        scale = np.repeat(layer_scale, sizes)
        noisy = std <= self.dead_rtol * np.maximum(np.abs(mean), scale)
        constant = std <= 1e-12 * np.abs(mean)
        return (std == 0) | np.where(np.repeat(self.exact, sizes), constant, noisy)

    def _held_columns(self) -> np.ndarray:
        """Return the held activations as one ``(n_examples, n)`` array, freeing the chunks."""
        out = np.empty((self.n_samples, self.n), dtype=self.dtype)
        row = 0
        while self.chunks:
            c = self.chunks.pop(0)
            out[row : row + c.shape[0]] = c
            row += c.shape[0]
        return out

    def dense(self, how: str, threshold: float | None) -> tuple[sp.csr_array, np.ndarray]:
        """Build the all-pairs graph and the dead-unit mask (frees the statistics).

        Parameters
        ----------
        how : {"square", "abs"}
            Edge weight ``r**2`` or ``|r|``.
        threshold : float, optional
            Weights below it are dropped.

        Returns
        -------
        adjacency : scipy.sparse.csr_array
            Dead units have no edges.
        dead : ndarray of bool
        """
        corr, dead = self.correlation()
        return dense_adjacency(corr, how, threshold, self.budget), dead

    def correlation(self) -> tuple[np.ndarray, np.ndarray]:
        """Compute the correlation matrix and the dead-unit mask (frees the statistics).

        Returns
        -------
        correlation : ndarray of float64, shape (n_units, n_units)
            Pearson's (or Spearman's) r; rows and columns of dead units are 0.
        dead : ndarray of bool
        """
        dead = self.dead_units()
        if self.method == "spearman":
            ranks = rank_columns(self._held_columns())
            ranks[:, dead] = 0.0  # dead by their values (ranks of rounding noise vary)
            self.acc = CorrelationAccumulator(self.n)
            step = max(1, 2**25 // (8 * self.n))
            for r0 in range(0, ranks.shape[0], step):
                self.acc.update(ranks[r0 : r0 + step])
            del ranks
        corr = self.acc.correlation(overwrite=True, dead=dead)
        self.acc = None
        return corr, dead

    def knn(self, k: int, how: str, method: str, seed: int) -> tuple[sp.csr_array, np.ndarray, str]:
        """Build the symmetrised ``k``-nearest-neighbour graph (frees the held activations).

        Parameters
        ----------
        k : int
            Neighbours kept per unit, by ``|r|``.
        how : {"square", "abs"}
            Edge weight ``r**2`` or ``|r|``.
        method : {"auto", "nndescent", "exact"}
            The search (``knn_method``).
        seed : int
            NN-descent's seed.

        Returns
        -------
        adjacency : scipy.sparse.csr_array
        dead : ndarray of bool
            Also the units constant after float32 storage.
        used : str
            The search used.
        """
        dead = self.dead_units()
        held = rank_columns(self._held_columns()) if self.method == "spearman" else None
        live = np.flatnonzero(~dead)
        n_live = live.size
        z = np.empty((2 * n_live, self.n_samples), dtype=np.float32)
        if held is not None:
            z[:n_live] = held[:, live].T
            del held
        else:
            row = 0
            while self.chunks:
                c = self.chunks.pop(0)
                z[:n_live, row : row + c.shape[0]] = c[:, live].T
                row += c.shape[0]
        zero = standardize_rows(z[:n_live])
        if zero.any():  # constant after float32 storage: treat as dead
            dead[live[zero]] = True
            keep = ~zero
            live = live[keep]
            z = np.ascontiguousarray(np.concatenate([z[:n_live][keep]] * 2))
            n_live = live.size
        sub, used = knn_adjacency(z, n_live, k, how, method, seed)
        del z
        sub = sub.tocoo()
        adjacency = sp.csr_array((sub.data, (live[sub.row], live[sub.col])), shape=(self.n, self.n))
        adjacency.sort_indices()
        return adjacency, dead, used
