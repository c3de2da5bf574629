"""The identity of a network's parameters: a SHA-256 over its state dict.

A graph records the fingerprint of the network it was built from
(``meta["network_sha256"]``); a partition computed on that graph carries it into its
file (``graph.network_sha256``), and the proxies compare it with the network they are
given, so that a partition of another network (same layers, other weights) is noticed.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn as nn

from ._fx import unwrap_model

__all__ = ["network_fingerprint"]


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    """Return the tensor's bytes in C order (no copy where it is contiguous on the CPU)."""
    t = t.detach()
    if t.is_quantized:
        t = t.dequantize()
    t = t.resolve_conj().resolve_neg()  # lazy conjugate / negative views: their values
    return memoryview(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())


def network_fingerprint(model: nn.Module) -> str:
    """``sha256`` over a network's state dict: every entry's name, dtype, shape and bytes.

    Entries are taken in the state dict's order; an entry that is not a tensor (a
    module's extra state) contributes its name and ``repr``. The model is not changed.

    Parameters
    ----------
    model : torch.nn.Module
        The network (a ``DataParallel`` or ``torch.compile`` wrapper stands for the
        module it holds, :func:`~nngraph.graphs._fx.unwrap_model`).

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal digits.

    Examples
    --------
    >>> import copy
    >>> import torch
    >>> import torch.nn as nn
    >>> a = nn.Linear(3, 2)
    >>> b = copy.deepcopy(a)
    >>> network_fingerprint(a) == network_fingerprint(b)
    True
    >>> with torch.no_grad():
    ...     b.weight[0, 0] += 1.0
    >>> network_fingerprint(a) == network_fingerprint(b)
    False
    """
    h = hashlib.sha256()
    for name, value in unwrap_model(model).state_dict().items():
        if isinstance(value, torch.Tensor):
            h.update(f"{name}:{value.dtype}:{tuple(value.shape)}\n".encode())
            h.update(_tensor_bytes(value))
        else:
            h.update(f"{name}:{value!r}\n".encode())
    return "sha256:" + h.hexdigest()
