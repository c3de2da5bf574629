"""Tracing a PyTorch model into the units of its weighted layers and what feeds them.

The model is traced with ``torch.fx`` and run once on the example input. Every tensor
carries a *provenance*: for each channel (dimension 1) the units of the weighted layers
(or of the input) whose values reach it through parameter-free operations. A
weighted layer consumes a provenance and starts a new one with its own units.

This module is shared by :func:`nngraph.weight_graph` (which reads the weights of each
consumer) and :func:`nngraph.activation_graph` (which records the same units).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from ._operations import (
    ADD_FUNCTIONS,
    ADD_METHODS,
    BATCHNORM_MODULES,
    CAT_FUNCTIONS,
    KNOWN_MODULES,
    PASS_FUNCTIONS,
    PASS_METHODS,
    PASS_MODULES,
    REDUCE_FUNCTIONS,
    REDUCE_METHODS,
    RESHAPE_FUNCTIONS,
    RESHAPE_METHODS,
    RESHAPE_MODULES,
    SCALE_FUNCTIONS,
    SCALE_METHODS,
    WEIGHTED_MODULES,
)

__all__ = [
    "UnsupportedModelError",
    "Segment",
    "Provenance",
    "Layer",
    "Consumption",
    "Trace",
    "trace_model",
]


class UnsupportedModelError(ValueError):
    """The model holds a module or an operation nngraph cannot interpret as units."""


@dataclass(frozen=True)
class Segment:
    """Channels ``[start, stop)`` of a tensor carry units ``unit_start + (c - start)``
    of layer ``layer``."""

    start: int
    stop: int
    layer: int
    unit_start: int


@dataclass(frozen=True)
class Provenance:
    """Where the channels of a tensor come from.

    ``group`` is the number of consecutive features one channel spans after a
    ``flatten`` (the product of the spatial sizes), 1 before.
    """

    n_channels: int
    segments: tuple[Segment, ...]
    group: int = 1

    def shifted(self, offset: int) -> tuple[Segment, ...]:
        return tuple(
            Segment(s.start + offset, s.stop + offset, s.layer, s.unit_start) for s in self.segments
        )


@dataclass
class Layer:
    """A layer of units: the input, or a weighted module."""

    name: str
    kind: str  # "input", "linear" or "conv"
    n_units: int
    module: nn.Module | None = None
    normalized_by: list[str] = field(default_factory=list)  # BN module paths folded in
    is_output: bool = False


@dataclass
class Consumption:
    """A weighted layer reading a tensor of known provenance."""

    layer: int
    provenance: Provenance
    module: nn.Module


@dataclass
class BatchNormFold:
    """A batch norm scaling channels of known provenance."""

    module_path: str
    module: nn.Module
    provenance: Provenance


@dataclass
class Trace:
    layers: list[Layer]
    consumptions: list[Consumption]
    batchnorms: list[BatchNormFold]
    input_spatial: int = 1  # product of the input's spatial sizes
    graph_module: fx.GraphModule | None = None  # the fx trace the layers were read from


def _input_as_features(node: fx.Node, p: Provenance) -> Provenance:
    """A flattened input: one unit per feature instead of per channel."""
    if p.group == 1:
        return p
    if any(s.layer != 0 for s in p.segments) or len(p.segments) != 1:
        raise UnsupportedModelError(
            f"{_describe(node)} flattens the input together with other layers' units"
        )
    n = p.n_channels * p.group
    return Provenance(n, (Segment(0, n, 0, 0),))


def _describe(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    where = next(reversed(stack.values()))[0] if stack else ""
    if node.op == "call_module":
        what = f"module {node.target!r}"
    elif node.op == "call_method":
        what = f"method Tensor.{node.target}"
    elif node.op == "call_function":
        what = f"function {getattr(node.target, '__module__', '')}.{_fname(node.target)}"
    else:
        what = f"{node.op} {node.target}"
    return f"{what}" + (f" (inside module {where!r})" if where and node.op != "call_module" else "")


def _fname(target: Callable) -> str:
    return getattr(target, "__name__", repr(target))


class _RecordingInterpreter(fx.Interpreter):
    """Runs the traced model, keeping every node's output and naming the failing call."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        try:
            out = super().run_node(n)
        except Exception as exc:
            shape_note = ""
            args = [a for a in n.args if isinstance(a, fx.Node)]
            if args and isinstance(self.values.get(args[0]), torch.Tensor):
                shape_note = f" on a tensor of shape {tuple(self.values[args[0]].shape)}"
            message = (
                f"running the model on example_input failed at {_describe(n)}{shape_note}: {exc}"
            )
            try:
                new = type(exc)(message)
            except Exception:
                new = RuntimeError(message)
            raise new from exc
        self.values[n] = out
        return out


def _symbolic_trace(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:
        raise UnsupportedModelError(
            f"torch.fx could not trace {type(model).__name__}: {exc}. nngraph reads the "
            "network's structure with torch.fx, so forward() must be traceable (no "
            "data-dependent control flow)."
        ) from exc


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _run(model: nn.Module, gm: fx.GraphModule, example_input: Any) -> dict[fx.Node, Any]:
    """Run the traced model in eval mode without gradients, restoring every module's mode."""
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    device, dtype = _model_device_dtype(model)
    x = example_input.detach().to(device=device)
    if x.is_floating_point():
        x = x.to(dtype)
    modes = [(m, m.training) for m in model.modules()]
    interp = _RecordingInterpreter(gm)
    try:
        model.eval()
        with torch.no_grad():
            interp.run(x)
    finally:
        for m, mode in modes:
            m.training = mode
    return interp.values


def _flatten_args(obj: Any) -> list[Any]:
    if isinstance(obj, (list, tuple)):
        return [y for x in obj for y in _flatten_args(x)]
    if isinstance(obj, dict):
        return [y for x in obj.values() for y in _flatten_args(x)]
    return [obj]


def _merge(provs: list[Provenance], node: fx.Node) -> Provenance:
    first = provs[0]
    for p in provs[1:]:
        if p.n_channels != first.n_channels or p.group != first.group:
            raise UnsupportedModelError(
                f"{_describe(node)} combines tensors with {first.n_channels} and "
                f"{p.n_channels} channels; nngraph cannot map their units"
            )
    segments: list[Segment] = []
    for p in provs:
        for s in p.segments:
            if s not in segments:
                segments.append(s)
    return Provenance(first.n_channels, tuple(segments), first.group)


def trace_model(model: nn.Module, example_input: torch.Tensor) -> Trace:
    """Trace ``model`` into layers of units and the provenance each weighted layer reads.

    The model is traced with ``torch.fx`` and run once on ``example_input`` in eval
    mode, without gradients; every module's mode is restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    example_input : torch.Tensor
        One batch of valid input.

    Returns
    -------
    Trace
        ``layers`` (the input, then each weighted module in call order),
        ``consumptions`` (the provenance each weighted module reads), ``batchnorms``
        (the channels each batch norm scales) and the ``graph_module`` traced.

    Raises
    ------
    UnsupportedModelError
        A module, parameter use or operation that cannot be read as units, named by
        its module path and op.
    TypeError
        ``model`` is not a module, or ``example_input`` not a tensor.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> trace = trace_model(model, torch.zeros(1, 4))
    >>> [(layer.name, layer.kind, layer.n_units) for layer in trace.layers]
    [('input', 'input', 4), ('0', 'linear', 3), ('2', 'linear', 2)]
    >>> trace.consumptions[1].provenance.segments  # layer "2" reads all units of "0"
    (Segment(start=0, stop=3, layer=1, unit_start=0),)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    gm = _symbolic_trace(model)
    values = _run(model, gm, example_input)
    trace = _propagate(model, gm, values, input_features=False)
    if _input_only_flattened(trace):
        # An MLP that flattens images itself: its input units are the input's features
        # (pixels), as for an MLP fed flat vectors, not whole channels.
        trace = _propagate(model, gm, values, input_features=True)
    trace.graph_module = gm
    return trace


def _input_only_flattened(trace: Trace) -> bool:
    """Whether the input is read only by ``Linear`` layers through a flatten."""
    reads = [c for c in trace.consumptions if any(s.layer == 0 for s in c.provenance.segments)]
    return (
        trace.input_spatial > 1
        and bool(reads)
        and all(
            isinstance(c.module, nn.Linear) and c.provenance.group == trace.input_spatial
            for c in reads
        )
        and not any(s.layer == 0 for b in trace.batchnorms for s in b.provenance.segments)
    )


def _propagate(
    model: nn.Module, gm: fx.GraphModule, values: dict[fx.Node, Any], *, input_features: bool
) -> Trace:
    """Walk the traced graph once, giving every tensor its provenance."""
    modules = dict(model.named_modules())
    params = dict(model.named_parameters())
    input_spatial = 1

    layers: list[Layer] = []
    consumptions: list[Consumption] = []
    batchnorms: list[BatchNormFold] = []
    prov: dict[fx.Node, Provenance] = {}
    called_with_params: set[str] = set()

    def shape(n: Any) -> tuple[int, ...]:
        v = values.get(n) if isinstance(n, fx.Node) else None
        return tuple(v.shape) if isinstance(v, torch.Tensor) else ()

    def reshape(node: fx.Node, src: Provenance, in_shape: tuple[int, ...]) -> Provenance:
        out = _reshape(node, src, in_shape, shape(node))
        if input_features and any(s.layer == 0 for s in src.segments):
            out = _input_as_features(node, out)
        return out

    for node in gm.graph.nodes:
        out_shape = shape(node)
        arg_nodes = [a for a in _flatten_args((node.args, node.kwargs)) if isinstance(a, fx.Node)]
        in_provs = [prov[a] for a in arg_nodes if a in prov]

        if node.op == "placeholder":
            if layers:
                raise UnsupportedModelError(
                    "the model's forward takes more than one input; nngraph supports one "
                    "input tensor"
                )
            if len(out_shape) < 2:
                raise UnsupportedModelError(
                    f"example_input must have a batch dimension and at least one feature "
                    f"dimension, got shape {out_shape}"
                )
            n_in = out_shape[1]
            input_spatial = math.prod(out_shape[2:])
            n_units = n_in * input_spatial if input_features else n_in
            layers.append(Layer("input", "input", n_units))
            prov[node] = Provenance(n_in, (Segment(0, n_in, 0, 0),))
            continue

        if node.op == "get_attr":
            target = str(node.target)
            if target in params:
                owner = target.rsplit(".", 1)[0] if "." in target else ""
                raise UnsupportedModelError(
                    f"parameter {target!r} is used directly in forward() (module "
                    f"{owner or type(model).__name__!r} computes with its own parameters); "
                    "nngraph interprets only nn.Linear, nn.Conv1d/2d/3d and batch norm "
                    "modules as weights"
                )
            continue  # buffers and constants carry no units

        if node.op == "output":
            for a in arg_nodes:
                if a in prov:
                    for s in prov[a].segments:
                        layers[s.layer].is_output = True
            continue

        if not in_provs:
            if node.op == "call_module" and _has_params(modules[str(node.target)]):
                raise UnsupportedModelError(
                    f"module {node.target!r} reads a value nngraph could not trace back to "
                    "the input's units"
                )
            continue  # computation on constants, shapes or sizes
        if node.op != "call_module" and _is_metadata(node):
            continue  # x.size(), x.shape, x.dim(): no units flow through

        if node.op == "call_module":
            path = str(node.target)
            mod = modules[path]
            if _has_params(mod):
                if path in called_with_params:
                    raise UnsupportedModelError(
                        f"module {path!r} is called more than once in forward() (shared "
                        "weights); nngraph needs one set of units per module"
                    )
                called_with_params.add(path)
            p_in = in_provs[0]
            if len(in_provs) > 1 and isinstance(mod, KNOWN_MODULES):
                raise UnsupportedModelError(
                    f"module {path!r} ({type(mod).__name__}) takes several traced inputs"
                )
            if isinstance(mod, WEIGHTED_MODULES):
                prov[node] = _consume(path, mod, p_in, shape(arg_nodes[0]), layers, consumptions)
            elif isinstance(mod, BATCHNORM_MODULES):
                if p_in.group != 1:
                    raise UnsupportedModelError(
                        f"batch norm {path!r} follows a flatten of spatial positions; "
                        "nngraph cannot fold it into units"
                    )
                batchnorms.append(BatchNormFold(path, mod, p_in))
                prov[node] = p_in
            elif isinstance(mod, PASS_MODULES):
                prov[node] = _same_channels(node, p_in, out_shape)
            elif isinstance(mod, RESHAPE_MODULES):
                prov[node] = reshape(node, p_in, shape(arg_nodes[0]))
            else:
                kind = "with parameters" if _has_params(mod) else "without parameters"
                raise UnsupportedModelError(
                    f"module {path!r} ({type(mod).__name__}, {kind}) is not supported: "
                    "nngraph interprets nn.Linear, nn.Conv1d/2d/3d, batch norm and "
                    "parameter-free element-wise, pooling, padding and reshaping modules"
                )
            continue

        # call_function / call_method
        target = node.target
        op_name = _fname(target) if callable(target) else str(target)
        if _is_op(node, PASS_METHODS, PASS_FUNCTIONS):
            prov[node] = _same_channels(node, _first_traced(node, prov), out_shape)
        elif _is_op(node, ADD_METHODS, ADD_FUNCTIONS):
            prov[node] = _same_channels(node, _merge(in_provs, node), out_shape)
        elif _is_op(node, SCALE_METHODS, SCALE_FUNCTIONS):
            if len(in_provs) > 1:
                raise UnsupportedModelError(
                    f"{_describe(node)} multiplies two tensors computed from the input "
                    "(gating); nngraph cannot read that as weights between units"
                )
            for other in arg_nodes:
                value = values.get(other)
                if other not in prov and isinstance(value, torch.Tensor) and value.numel() > 1:
                    raise UnsupportedModelError(
                        f"{_describe(node)} scales by a tensor of shape {tuple(value.shape)} "
                        "(a per-channel or per-element factor, which changes the weights "
                        "between units); nngraph passes through scaling by a single number "
                        "only: fold the factor into the next layer's weights"
                    )
            prov[node] = _same_channels(node, in_provs[0], out_shape)
        elif _is_op(node, RESHAPE_METHODS, RESHAPE_FUNCTIONS):
            prov[node] = reshape(node, _first_traced(node, prov), shape(node.args[0]))
        elif _is_op(node, REDUCE_METHODS, REDUCE_FUNCTIONS):
            src = _first_traced(node, prov)
            in_shape = shape(node.args[0])
            if src.group != 1 or len(out_shape) < 2 or out_shape[:2] != in_shape[:2]:
                raise UnsupportedModelError(
                    f"{_describe(node)} reduces over the batch or channel dimension; "
                    "only reductions over spatial dimensions are supported"
                )
            prov[node] = src
        elif _is_op(node, frozenset(), CAT_FUNCTIONS):
            prov[node] = _cat(node, prov, values)
        else:
            raise UnsupportedModelError(
                f"operation {op_name!r} ({_describe(node)}) is applied to values computed "
                "from the input, and nngraph does not know how it maps units; supported "
                "between weighted layers: activations, dropout, pooling, padding, flatten/"
                "view/reshape, residual add, torch.cat, scaling by a constant"
            )

    return Trace(layers, consumptions, batchnorms, input_spatial)


_META_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}
_META_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda"}


def _is_metadata(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in _META_METHODS
    return node.target is getattr and len(node.args) > 1 and node.args[1] in _META_ATTRS


def _first_traced(node: fx.Node, prov: dict[fx.Node, Provenance]) -> Provenance:
    """The provenance of the op's first argument, which must be a traced tensor."""
    if not node.args or not isinstance(node.args[0], fx.Node) or node.args[0] not in prov:
        raise UnsupportedModelError(
            f"{_describe(node)} takes a traced tensor in a position nngraph does not read"
        )
    return prov[node.args[0]]


def _is_op(node: fx.Node, methods: Collection[str], functions: Collection[Any]) -> bool:
    """Whether a call node is one of ``methods`` (Tensor methods) or ``functions``."""
    return node.target in (methods if node.op == "call_method" else functions)


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _same_channels(node: fx.Node, p: Provenance, out_shape: tuple[int, ...]) -> Provenance:
    if len(out_shape) < 2 or out_shape[1] != p.n_channels * p.group:
        raise UnsupportedModelError(
            f"{_describe(node)} changes the channel dimension ({p.n_channels * p.group} -> "
            f"{out_shape[1] if len(out_shape) > 1 else 'none'}); nngraph cannot map its units"
        )
    return p


def _reshape(
    node: fx.Node, p: Provenance, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> Provenance:
    """Flatten (N, C, *spatial) -> (N, C*S), or any reshape that keeps (N, C)."""
    if len(out_shape) >= 2 and len(in_shape) >= 2 and out_shape[0] == in_shape[0]:
        if out_shape[1] == in_shape[1]:
            return p
        spatial = math.prod(in_shape[2:])
        if len(out_shape) == 2 and out_shape[1] == in_shape[1] * spatial:
            return Provenance(p.n_channels, p.segments, p.group * spatial)
    raise UnsupportedModelError(
        f"{_describe(node)} reshapes {in_shape} to {out_shape}; nngraph supports flattening "
        "(N, C, ...) to (N, C*...) and reshapes that keep the batch and channel dimensions"
    )


def _cat(node: fx.Node, prov: dict, values: dict) -> Provenance:
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or any(
        not isinstance(t, fx.Node) or t not in prov for t in tensors
    ):
        raise UnsupportedModelError(
            f"{_describe(node)} concatenates a tensor that is not computed from the input"
        )
    ndim = values[tensors[0]].dim()
    if dim < 0:
        dim += ndim
    provs = [prov[t] for t in tensors]
    if dim != 1:
        return _merge(provs, node)  # batch or spatial concatenation: same channels
    if any(p.group != 1 for p in provs):
        raise UnsupportedModelError(
            f"{_describe(node)} concatenates flattened features; nngraph cannot map them"
        )
    segments: list[Segment] = []
    offset = 0
    for p in provs:
        segments.extend(p.shifted(offset))
        offset += p.n_channels
    return Provenance(offset, tuple(segments))


def _consume(
    path: str,
    mod: nn.Module,
    p_in: Provenance,
    in_shape: tuple[int, ...],
    layers: list[Layer],
    consumptions: list[Consumption],
) -> Provenance:
    if isinstance(mod, nn.Linear):
        if len(in_shape) != 2:
            raise UnsupportedModelError(
                f"module {path!r} (Linear) is applied to a tensor of shape {in_shape}; "
                "nngraph supports Linear layers on (batch, features) inputs"
            )
        if mod.in_features != p_in.n_channels * p_in.group:
            raise UnsupportedModelError(
                f"module {path!r} (Linear) reads {mod.in_features} features but the "
                f"traced input has {p_in.n_channels * p_in.group}"
            )
        kind, n_out = "linear", mod.out_features
    else:
        if p_in.group != 1:
            raise UnsupportedModelError(
                f"module {path!r} ({type(mod).__name__}) reads flattened features"
            )
        kind, n_out = "conv", mod.out_channels
    idx = len(layers)
    layers.append(Layer(path, kind, n_out, module=mod))
    consumptions.append(Consumption(idx, p_in, mod))
    return Provenance(n_out, (Segment(0, n_out, idx, 0),))
