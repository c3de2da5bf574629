"""Checking what the proxies are given, before any work: model, partition, data.

Everything a proxy needs is checked here, with an error that says what is wrong and
where: a partition whose layers do not match the model's units (names or sizes),
targets out of range or of the wrong shape, inputs and targets of different lengths, a
size filter that leaves nothing to test, a model whose output is not class scores.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parameter import is_lazy

from ..graphs._fx import frozen, model_device_dtype, unwrap_model
from ..graphs._network_fingerprint import network_fingerprint
from ..graphs._sites import UnitSite, unit_sites
from ..graphs._tracing import Trace, trace_model
from ..partition import GraphMismatchWarning, Partition, Subcluster
from ..utils._warnings import user_stacklevel

__all__ = ["Prepared", "as_tensor", "prepare"]


@dataclass
class Prepared:
    """A checked proxy call: the traced model, the sites, the data and the sub-clusters."""

    model: nn.Module
    trace: Trace
    sites: dict[str, UnitSite]
    partition: Partition
    subclusters: list[Subcluster]
    inputs: torch.Tensor
    targets: torch.Tensor  # (n, n_heads) int64
    n_heads: int
    n_classes: int
    device: torch.device
    dtype: torch.dtype


def as_tensor(x: Any, name: str) -> torch.Tensor:
    """Return a tensor or array as a tensor (a batch dimension required)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {tuple(x.shape)}")
    return x


def _partition(partition: Any) -> Partition:
    if isinstance(partition, Partition):
        return partition
    if isinstance(partition, (str, os.PathLike)):
        return Partition.load(partition)
    raise TypeError(
        f"partition must be an nngraph Partition or the path of a partition file, got "
        f"{type(partition).__name__}"
    )


def _check_layers(part: Partition, trace: Trace) -> None:
    sizes = {layer.name: layer.n_units for layer in trace.layers}
    for name, size in part.layer_sizes.items():
        if name not in sizes:
            raise ValueError(
                f"the partition has a layer {name!r} that the model does not have; the "
                f"model's layers are {list(sizes)}"
            )
        if sizes[name] != size:
            raise ValueError(
                f"layer {name!r} has {size} units in the partition but {sizes[name]} in the model"
            )


#: Examples checked for NaN at a time (a bounded copy of a non-contiguous input).
_FINITE_CHUNK = 1024


def _check_finite(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse NaN or infinite inputs or parameters, and NaN buffers: the scores would be wrong.

    Buffers may hold infinities on purpose (masks, an observer's bounds before
    calibration); lazy parameters are left to the trace's own refusal.
    """
    if x.is_floating_point() or x.is_complex():
        flags = []
        for i in range(0, x.shape[0], _FINITE_CHUNK):
            part = x[i : i + _FINITE_CHUNK]
            flags.append(~torch.isfinite(part).reshape(part.shape[0], -1).all(1))
        bad = torch.cat(flags)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"inputs hold NaN or infinite values ({int(bad.sum())} of {x.shape[0]} "
                f"examples, the first at index {first})"
            )
    for name, value in model.named_parameters():
        if _numbers(value) and not bool(torch.isfinite(value).all()):
            raise ValueError(f"the model's parameter {name!r} holds NaN or infinite values")
    for name, value in model.named_buffers():
        if _numbers(value) and bool(torch.isnan(value).any()):
            raise ValueError(f"the model's buffer {name!r} holds NaN")


def _numbers(value: torch.Tensor) -> bool:
    """Whether ``value`` holds real or complex numbers to check (not lazy, not integers)."""
    return not is_lazy(value) and (value.is_floating_point() or value.is_complex())


def _check_network(part: Partition, model: nn.Module) -> None:
    """Warn when the partition records another network than ``model`` (other parameters)."""
    recorded = part.graph_info.get("network_sha256")
    if recorded is not None and recorded != network_fingerprint(model):
        kind = part.graph_info.get("kind") or "a"
        warnings.warn(
            f"the partition was computed on the {kind} graph of a network with other "
            "parameters than this model (same layers; its network_sha256 differs): its "
            "units are matched by layer name and index",
            GraphMismatchWarning,
            stacklevel=user_stacklevel(),
        )


def _chosen_layers(layers: Sequence[str] | None, trace: Trace, part: Partition) -> list[str]:
    if layers is None:  # the hidden layers the partition labels
        return [
            layer.name
            for layer in trace.layers
            if layer.kind != "input" and not layer.is_output and layer.name in part.layer_sizes
        ]
    if isinstance(layers, str):
        layers = [layers]
    names = [layer.name for layer in trace.layers]
    for name in layers:
        if name not in names:
            raise ValueError(f"layers: {name!r} is not a layer of the model ({names})")
        if name not in part.layer_sizes:
            raise ValueError(f"layers: the partition does not label layer {name!r}")
    return list(layers)


def prepare(
    model: nn.Module,
    partition: Any,
    inputs: Any,
    targets: Any,
    *,
    layers: Sequence[str] | None,
    min_size: int,
    max_fraction: float,
    site: str,
) -> Prepared:
    """Check a proxy's arguments and trace the model (see the module's description)."""
    model = unwrap_model(model)
    x = as_tensor(inputs, "inputs")
    y = as_tensor(targets, "targets")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"inputs hold {x.shape[0]} examples but targets {y.shape[0]}")
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
        raise TypeError(f"targets must hold class indices (integers), got dtype {y.dtype}")
    if y.dim() not in (1, 2):
        raise ValueError(
            f"targets must have shape (n,) or (n, n_heads) for several heads, got {tuple(y.shape)}"
        )
    y = y.to(torch.int64).reshape(y.shape[0], -1)
    n_heads = int(y.shape[1])
    if int(y.min()) < 0:
        raise ValueError(f"targets must be class indices >= 0, got {int(y.min())}")
    _check_finite(model, x)
    part = _partition(partition)
    trace = trace_model(model, x[:1])
    _check_layers(part, trace)
    _check_network(part, model)
    chosen = _chosen_layers(layers, trace, part)
    subclusters = [s for s in part.subclusters(min_size, max_fraction) if s.layer in chosen]
    if not subclusters:
        raise ValueError(
            f"no sub-cluster to test in layers {chosen}: none has at least {min_size} "
            f"units and at most {max_fraction:g} of its layer (min_size, max_fraction)"
        )
    device, dtype = model_device_dtype(model)
    n_classes = _check_output(model, x[:2], n_heads, device, dtype)
    if int(y.max()) >= n_classes:
        one_hot = n_heads > 1 and n_classes == 1 and bool((y.sum(dim=1) == 1).all())
        hint = (
            ": the targets look one-hot (one column per class); pass class indices, e.g. "
            "targets.argmax(1)"
            if one_hot
            else ""
        )
        raise ValueError(
            f"targets hold class {int(y.max())} but the model has {n_classes} classes "
            f"per head ({n_heads} head(s)){hint}"
        )
    return Prepared(
        model,
        trace,
        unit_sites(trace, site),
        part,
        subclusters,
        x,
        y,
        n_heads,
        n_classes,
        device,
        dtype,
    )


def _check_output(
    model: nn.Module, x: torch.Tensor, n_heads: int, device: torch.device, dtype: torch.dtype
) -> int:
    """Return the number of classes per head, from the model's output on a few examples."""
    x = x.to(device)
    if x.is_floating_point():
        x = x.to(dtype)
    with frozen(model), torch.no_grad():
        out = model(x)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or not out.is_floating_point():
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return class scores of shape (n, n_classes), got {shape}")
    width = int(out.shape[1])
    if width % n_heads:
        raise ValueError(
            f"the model returns {width} scores, not a multiple of the targets' {n_heads} heads"
        )
    return width // n_heads
