"""The streaming correlation statistics on the model's device (a GPU), in float64.

:class:`DeviceCorrelationAccumulator` is :class:`~._correlation.CorrelationAccumulator`'s
update kept where the activations are computed, so that a model on a GPU never sends
its ``(n_examples, n_units)`` activations to the host: only the final ``n_units``-long
mean and ``n_units x n_units`` co-moment matrix cross, once, and become a host
accumulator that finishes the job (dead units, correlations) exactly as on the CPU.

The arithmetic is the host's, in float64: each chunk of rows is centred on its own mean,
its co-moments ``Xc^T Xc`` are added (one ``addmm``: the full product, as torch has no
symmetric rank-k update), and the shift between the running and the chunk's mean enters
as one rank-one term (Chan, Golub and LeVeque's pairwise merge). No sum of raw values is
formed, so activations with a large offset keep their digits; the result differs from
the CPU's only by the order of the float64 sums (about ``1e-15`` relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._correlation import DEAD_RTOL, ChunkedRows, CorrelationAccumulator

__all__ = ["DeviceCorrelationAccumulator", "statistics_on_device"]

# Rows per co-moment chunk: large enough for the GPU's matrix units, small next to the
# n^2 co-moment matrix.
_CHUNK_BYTES = 256 * 2**20
_MIN_CHUNK, _MAX_CHUNK = 256, 8192


def statistics_on_device(device: torch.device) -> bool:
    """Whether the statistics of a model on ``device`` stay there (a CUDA GPU).

    Other devices (the CPU, and those without float64 such as Apple's MPS) hand their
    activations to the host accumulator.

    Parameters
    ----------
    device : torch.device
        The model's device.

    Returns
    -------
    bool

    Examples
    --------
    >>> import torch
    >>> statistics_on_device(torch.device("cpu")), statistics_on_device(torch.device("cuda"))
    (False, True)
    """
    return torch.device(device).type == "cuda"


class DeviceCorrelationAccumulator(ChunkedRows):
    """Running mean and co-moment matrix of float64 rows, on a torch device.

    Parameters
    ----------
    n_features : int
        Number of features (columns of every batch).
    device : torch.device or str
        Where the statistics live (the activations' device).

    Notes
    -----
    Device memory: ``8 * n_features**2`` bytes for the co-moment matrix, plus a chunk of
    at most 256 MiB of buffered rows.

    Examples
    --------
    >>> import numpy as np, torch
    >>> x = torch.from_numpy(np.random.default_rng(0).normal(size=(100, 3)) + 1e6)
    >>> acc = DeviceCorrelationAccumulator(3, "cpu")
    >>> for batch in torch.tensor_split(x, 7):
    ...     acc.update(batch)
    >>> host = acc.to_host()
    >>> bool(np.allclose(host.correlation(), np.corrcoef(x.numpy(), rowvar=False), atol=1e-12))
    True
    """

    def __init__(self, n_features: int, device: Any) -> None:
        n = int(n_features)
        if n < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.n_features = n
        self.device = torch.device(device)
        self._n = 0  # rows merged (buffered rows excluded)
        self._mean = torch.zeros(n, dtype=torch.float64, device=self.device)
        self._m2 = torch.zeros((n, n), dtype=torch.float64, device=self.device)
        self._chunk_rows = int(min(_MAX_CHUNK, max(_MIN_CHUNK, _CHUNK_BYTES // (8 * n))))
        self._buffer: list[torch.Tensor] = []
        self._buffered = 0

    @property
    def n_samples(self) -> int:
        """Number of rows seen so far."""
        return self._n + self._buffered

    def update(self, batch: torch.Tensor) -> None:
        """Add a batch of rows, shape ``(n_rows, n_features)``, on (or moved to) the device.

        Raises
        ------
        ValueError
            Wrong shape, or NaN or infinite values.
        """
        x = batch.detach().to(device=self.device, dtype=torch.float64)
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"a batch must have shape (n_rows, {self.n_features}), got {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            return
        if not bool(torch.isfinite(x).all()):
            raise ValueError("a batch contains NaN or infinite values")
        # A float64 batch already on the device is the caller's tensor: copied if kept.
        self._add_rows(x, owned=x.data_ptr() != batch.data_ptr())

    @staticmethod
    def _copy(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def _concatenate(chunks: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(chunks)

    def _merge(self, x: torch.Tensor) -> None:
        """Chan et al.'s pairwise merge of the statistics of ``x`` into the running ones."""
        b = x.shape[0]
        n_a = self._n
        total = n_a + b
        mean_b = x.mean(dim=0)
        delta = mean_b - self._mean
        xc = x - mean_b
        # M += Xc^T Xc + (n_a b / total) delta delta^T
        self._m2.addmm_(xc.T, xc)
        if n_a:
            self._m2.addr_(delta, delta, alpha=n_a * b / total)
        self._mean += delta * (b / total)
        self._n = total

    def to_host(self, dead_rtol: float = DEAD_RTOL) -> CorrelationAccumulator:
        """Return a host :class:`CorrelationAccumulator` holding these statistics.

        The device memory is freed; this accumulator cannot be used afterwards.

        Parameters
        ----------
        dead_rtol : float, default=1e-12
            The host accumulator's ``dead_rtol``.

        Returns
        -------
        CorrelationAccumulator
        """
        self._flush()
        mean = self._mean.cpu().numpy()
        m2 = self._m2.cpu().numpy()  # C-ordered; its transpose is Fortran-ordered
        self._mean = self._m2 = torch.zeros(0)
        return CorrelationAccumulator.from_moments(
            self._n, mean, np.asfortranarray(m2.T), dead_rtol=dead_rtol
        )
