"""Tracing a PyTorch model into the units of its weighted layers and what feeds them.

The model is traced with ``torch.fx`` in eval mode and run once on the example input
(:mod:`._fx`: its modes and buffers are restored afterwards, even on error). Every
traced tensor then gets a :class:`~._provenance.Provenance`: which unit of which layer
sits at each position of the dimensions that carry units. A weighted layer (``Linear``,
``Conv1d/2d/3d``) consumes a provenance along the dimension it reads and starts its own.

Batch norms come in two roles (:class:`Norm`): one that directly normalises a layer's
output (``conv -> bn``, possibly with an element-wise activation or dropout between,
and nothing else reading the layer) belongs to that layer's units; any other (a
pre-activation batch norm of DenseNet, one after a residual add) scales the inputs of
the layers that read it, and is recorded on the planes it scaled.

Shared by :func:`nngraph.weight_graph` (which reads each consumer's weights),
:func:`nngraph.activation_graph` (which records the same units) and the proxies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from ._fx import (
    TensorMeta,
    UnsupportedModelError,
    describe,
    frozen,
    run_shapes,
    symbolic_trace,
    unwrap_model,
)
from ._operations import (
    ADD_FUNCTIONS,
    ADD_METHODS,
    BATCHNORM_MODULES,
    CAT_FUNCTIONS,
    PASS_FUNCTIONS,
    PASS_METHODS,
    PASS_MODULES,
    PERMUTE_FUNCTIONS,
    PERMUTE_METHODS,
    REDUCE_FUNCTIONS,
    REDUCE_METHODS,
    RESHAPE_FUNCTIONS,
    RESHAPE_METHODS,
    RESHAPE_MODULES,
    SCALE_FUNCTIONS,
    SCALE_METHODS,
    SELECT_FUNCTIONS,
    SELECT_METHODS,
    WEIGHTED_MODULES,
)
from ._provenance import Plane, Provenance, UnsupportedOp, concatenated, merged

__all__ = [
    "GATING",
    "Consumption",
    "Layer",
    "Norm",
    "Trace",
    "UnsupportedModelError",
    "choose_layers",
    "trace_model",
]

GATING = ("refuse", "ignore")


@dataclass
class Layer:
    """A layer of units: the input, or a weighted module.

    ``unit_dim`` is the dimension of the layer's output that carries its units (1 for
    convolutions and plain ``Linear`` layers, the last one for a ``Linear`` applied to
    ``(batch, ..., features)``); ``node`` the ``torch.fx`` call computing it.
    """

    name: str
    kind: str  # "input", "linear" or "conv"
    n_units: int
    module: nn.Module | None = None
    normalized_by: list[str] = field(default_factory=list)  # batch norms of its units
    is_output: bool = False
    unit_dim: int = 1
    node: fx.Node | None = None


@dataclass
class Norm:
    """A batch norm of the network.

    ``layer`` is the layer whose units it normalises (``units[c]``: the unit of its
    channel ``c``), or None when it scales the inputs of the layers reading it (its
    index then appears in the planes' ``norms``).
    """

    path: str
    module: nn.Module
    layer: int | None
    units: np.ndarray | None
    node: fx.Node


@dataclass
class Consumption:
    """A weighted layer reading its input features: one plane per contributing layer,
    each a 1-D array over the features the module reads."""

    layer: int
    module: nn.Module
    planes: tuple[Plane, ...]
    n_features: int


@dataclass
class Trace:
    """What :func:`trace_model` found."""

    model: nn.Module  # the model traced (unwrapped from DataParallel / torch.compile)
    layers: list[Layer]
    consumptions: list[Consumption]
    norms: list[Norm]
    graph_module: fx.GraphModule
    input_features: bool = False  # input units are features (an MLP flattening images)
    input_shape: tuple[int, ...] = ()


def trace_model(model: nn.Module, example_input: torch.Tensor, *, gating: str = "refuse") -> Trace:
    """Trace ``model`` into layers of units and the features each weighted layer reads.

    The model is traced in eval mode and run once on ``example_input`` without
    gradients; every module's mode and every buffer are restored afterwards, also when
    tracing fails.

    Parameters
    ----------
    model : torch.nn.Module
        The network (``DataParallel``, ``DistributedDataParallel`` and ``torch.compile``
        wrappers are unwrapped). ``forward``'s arguments after the input must have
        defaults.
    example_input : torch.Tensor
        One batch of valid input.
    gating : {"refuse", "ignore"}, default="refuse"
        A product of two tensors computed from the input (squeeze-and-excitation,
        gating) is refused; with ``"ignore"`` the smaller (broadcast) factor is treated
        as a positive per-channel scale outside the graph: the product carries the
        larger factor's units, and the gate's own layers end in a branch of their own.

    Returns
    -------
    Trace

    Raises
    ------
    UnsupportedModelError
        A module, parameter use or operation that cannot be read as units, named by
        its module path and op.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> trace = trace_model(model, torch.zeros(1, 4))
    >>> [(layer.name, layer.kind, layer.n_units) for layer in trace.layers]
    [('input', 'input', 4), ('0', 'linear', 3), ('2', 'linear', 2)]
    >>> [plane.units.tolist() for plane in trace.consumptions[1].planes]  # "2" reads "0"
    [[0, 1, 2]]
    """
    if gating not in GATING:
        raise ValueError(f"gating must be one of {GATING}, got {gating!r}")
    model = unwrap_model(model)
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    with frozen(model):
        gm = symbolic_trace(model)
        shapes = run_shapes(model, gm, example_input)
    try:
        trace = _Propagator(model, gm, shapes, input_features=False, gating=gating).run()
    except UnsupportedModelError:
        # Tokens (batch, ..., features) read by Linear layers: the input's units are its
        # last dimension, not dimension 1.
        if len(_input_shape(gm, shapes)) < 3:
            raise
        try:
            trace = _Propagator(
                model, gm, shapes, input_features=False, gating=gating, input_dim=-1
            ).run()
        except UnsupportedModelError:
            pass
        else:
            return trace
        raise
    if _reads_input_as_features(trace):
        # An MLP that flattens images itself: its input units are the input's features
        # (pixels), as for an MLP fed flat vectors, not whole channels.
        trace = _Propagator(model, gm, shapes, input_features=True, gating=gating).run()
    return trace


def choose_layers(
    trace: Trace,
    include_input: bool = True,
    include_output: bool = True,
    layers: Sequence[str] | Callable[[str, nn.Module | None], bool] | None = None,
) -> list[int]:
    """Indices of the traced layers a graph keeps.

    Parameters
    ----------
    trace : Trace
        From :func:`trace_model`.
    include_input, include_output : bool
        Keep the input units; keep the layers whose values reach the output.
    layers : sequence of str or callable, optional
        Keep only these layer names (``"input"`` for the input), or the layers for which
        ``layers(name, module)`` is true (``module`` is None for the input).

    Returns
    -------
    list of int
        In trace order.

    Raises
    ------
    ValueError
        A name that is not a layer of the model, or nothing left to keep.
    """
    if layers is None:
        wanted = None
    elif callable(layers):
        wanted = {i for i, layer in enumerate(trace.layers) if layers(layer.name, layer.module)}
    else:
        if isinstance(layers, str):
            layers = [layers]
        names = [layer.name for layer in trace.layers]
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(
                f"layers {unknown} are not layers of the model; its layers are {names}"
            )
        wanted = {names.index(name) for name in layers}
    keep = [
        i
        for i, layer in enumerate(trace.layers)
        if (include_input or layer.kind != "input")
        and (include_output or not layer.is_output or layer.kind == "input")
        and (wanted is None or i in wanted)
    ]
    if not keep:
        raise ValueError("no units to keep: the options exclude every layer")
    return keep


def _input_shape(gm: fx.GraphModule, shapes: dict[fx.Node, Any]) -> tuple[int, ...]:
    node = next(n for n in gm.graph.nodes if n.op == "placeholder")
    meta = shapes.get(node)
    return meta.shape if isinstance(meta, TensorMeta) else ()


def _reads_input_as_features(trace: Trace) -> bool:
    """Whether the input is read only by ``Linear`` layers through a flatten."""
    if len(trace.input_shape) <= 2:
        return False
    reads = [(c, plane) for c in trace.consumptions for plane in c.planes if plane.layer == 0]
    if not reads or any(n.layer == 0 for n in trace.norms):
        return False
    for c, plane in reads:
        units = plane.units[plane.units >= 0]
        if not isinstance(c.module, nn.Linear) or np.unique(units).size == units.size:
            return False
    return True


def _flatten_args(obj: Any) -> list[Any]:
    if isinstance(obj, (list, tuple)):
        return [y for x in obj for y in _flatten_args(x)]
    if isinstance(obj, dict):
        return [y for x in obj.values() for y in _flatten_args(x)]
    if isinstance(obj, slice):
        return [obj.start, obj.stop, obj.step]
    return [obj]


def _is_op(node: fx.Node, methods: Collection[str], functions: Collection[Any]) -> bool:
    """Whether a call node is one of ``methods`` (Tensor methods) or ``functions``."""
    if node.op == "call_method":
        return node.target in methods
    return node.op == "call_function" and node.target in functions


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _arg(node: fx.Node, position: int, name: str, default: Any = None) -> Any:
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(name, default)


_META_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}
_META_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda"}


class _Propagator:
    """One walk over the traced graph, giving every tensor its provenance."""

    def __init__(
        self,
        model: nn.Module,
        gm: fx.GraphModule,
        shapes: dict[fx.Node, Any],
        *,
        input_features: bool,
        gating: str,
        input_dim: int = 1,
    ) -> None:
        self.model, self.gm, self.shapes = model, gm, shapes
        self.input_features, self.gating = input_features, gating
        self.input_dim = input_dim
        self.modules = dict(model.named_modules())
        self.params = dict(model.named_parameters())
        self.layers: list[Layer] = []
        self.consumptions: list[Consumption] = []
        self.norms: list[Norm] = []
        self.prov: dict[fx.Node, Any] = {}  # Provenance, or a tuple of them (chunk, split)
        self.called: set[str] = set()
        self.input_shape: tuple[int, ...] = ()

    # ------------------------------------------------------------------ walk
    def run(self) -> Trace:
        for node in self.gm.graph.nodes:
            try:
                out = self._visit(node)
            except UnsupportedOp as exc:
                raise UnsupportedModelError(
                    f"{describe(node)}: {exc}; nngraph cannot map its units"
                ) from None
            if out is not None:
                self.prov[node] = out
        return Trace(
            self.model,
            self.layers,
            self.consumptions,
            self.norms,
            self.gm,
            input_features=self.input_features,
            input_shape=self.input_shape,
        )

    def shape(self, node: Any) -> tuple[int, ...]:
        meta = self.shapes.get(node) if isinstance(node, fx.Node) else None
        if not isinstance(meta, TensorMeta):
            raise UnsupportedOp("its value is not a tensor")
        return meta.shape

    def traced(self, node: fx.Node) -> list[fx.Node]:
        return [
            a
            for a in _flatten_args((node.args, node.kwargs))
            if isinstance(a, fx.Node) and a in self.prov
        ]

    def first(self, node: fx.Node) -> Provenance:
        source = node.args[0] if node.args else None
        p = self.prov.get(source) if isinstance(source, fx.Node) else None
        if not isinstance(p, Provenance):
            raise UnsupportedOp("it takes a traced tensor in a position nngraph does not read")
        return p

    def _visit(self, node: fx.Node) -> Any:
        if node.op == "placeholder":
            return self._placeholder(node)
        if node.op == "get_attr":
            target = str(node.target)
            if target in self.params:
                owner = target.rsplit(".", 1)[0] if "." in target else ""
                raise UnsupportedModelError(
                    f"parameter {target!r} is used directly in forward() (module "
                    f"{owner or type(self.model).__name__!r} computes with its own "
                    "parameters); nngraph interprets only nn.Linear, nn.Conv1d/2d/3d and "
                    "batch norm modules as weights"
                )
            return None
        if node.op == "output":
            for a in self.traced(node):
                for p in self._provs(self.prov[a]):
                    for layer in p.layers():
                        self.layers[layer].is_output = True
            return None
        traced = self.traced(node)
        if not traced:
            if node.op == "call_module" and _has_params(self.modules[str(node.target)]):
                raise UnsupportedModelError(
                    f"module {node.target!r} reads a value nngraph could not trace back to "
                    "the input's units"
                )
            return None  # computation on constants, shapes or sizes
        if node.op != "call_module" and self._is_metadata(node):
            return None
        if node.op == "call_module":
            return self._module(node, traced)
        return self._function(node, traced)

    @staticmethod
    def _provs(value: Any) -> list[Provenance]:
        return list(value) if isinstance(value, tuple) else [value]

    @staticmethod
    def _is_metadata(node: fx.Node) -> bool:
        if node.op == "call_method":
            return node.target in _META_METHODS
        return node.target is getattr and len(node.args) > 1 and node.args[1] in _META_ATTRS

    def _placeholder(self, node: fx.Node) -> Provenance | None:
        if self.layers:
            return None  # a traced default of an extra forward argument
        shape = self.shape(node)
        if len(shape) < 2:
            raise UnsupportedModelError(
                f"example_input must have a batch dimension and at least one feature "
                f"dimension, got shape {shape}"
            )
        self.input_shape = shape
        if self.input_features:
            n = math.prod(shape[1:])
            units = np.arange(n, dtype=np.int64).reshape(shape[1:])
            prov = Provenance(shape, tuple(range(1, len(shape))), (Plane(0, units),))
        else:
            dim = self.input_dim % len(shape)
            n = shape[dim]
            prov = Provenance.of_layer(shape, dim, 0)
        self.layers.append(
            Layer(
                "input", "input", int(n), node=node, unit_dim=dim if not self.input_features else 1
            )
        )
        return prov

    # ------------------------------------------------------------------ modules
    def _module(self, node: fx.Node, traced: list[fx.Node]) -> Any:
        path = str(node.target)
        mod = self.modules[path]
        if _has_params(mod):
            if path in self.called:
                raise UnsupportedModelError(
                    f"module {path!r} is called more than once in forward() (shared "
                    "weights); nngraph needs one set of units per module"
                )
            self.called.add(path)
        known = WEIGHTED_MODULES + BATCHNORM_MODULES + PASS_MODULES + RESHAPE_MODULES
        if len(traced) > 1 and isinstance(mod, known):
            raise UnsupportedModelError(
                f"module {path!r} ({type(mod).__name__}) takes several traced inputs"
            )
        if isinstance(mod, WEIGHTED_MODULES):
            return self._consume(node, path, mod, self.first(node))
        if isinstance(mod, BATCHNORM_MODULES):
            return self._batchnorm(node, path, mod, self.first(node))
        if isinstance(mod, PASS_MODULES):
            return self.first(node).with_shape(self.shape(node))
        if isinstance(mod, RESHAPE_MODULES):
            return self.first(node).reshaped(self.shape(node))
        kind = "with parameters" if _has_params(mod) else "without parameters"
        raise UnsupportedModelError(
            f"module {path!r} ({type(mod).__name__}, {kind}) is not supported: nngraph "
            "interprets nn.Linear, nn.Conv1d/2d/3d, batch norm and parameter-free "
            "element-wise, pooling, resizing, padding and reshaping modules"
        )

    def _consume(self, node: fx.Node, path: str, mod: nn.Module, p: Provenance) -> Provenance:
        if isinstance(mod, nn.Linear):
            dim, n_in, n_out, kind = p.ndim - 1, mod.in_features, mod.out_features, "linear"
        else:
            if p.ndim < 3:
                raise UnsupportedOp(
                    f"it reads a tensor of shape {p.shape}, without spatial dimensions"
                )
            dim, n_in, n_out, kind = 1, mod.in_channels, mod.out_channels, "conv"
        if p.shape[dim] != n_in:
            raise UnsupportedModelError(
                f"module {path!r} ({type(mod).__name__}) reads {n_in} features but the "
                f"traced input has {p.shape[dim]} along dimension {dim}"
            )
        planes = p.along(dim)
        index = len(self.layers)
        out_shape = self.shape(node)
        out_dim = len(out_shape) - 1 if kind == "linear" else 1
        self.layers.append(Layer(path, kind, n_out, mod, unit_dim=out_dim, node=node))
        self.consumptions.append(Consumption(index, mod, planes, n_in))
        return Provenance.of_layer(out_shape, out_dim, index)

    def _batchnorm(self, node: fx.Node, path: str, mod: nn.Module, p: Provenance) -> Provenance:
        out = p.with_shape(self.shape(node))
        owner = self._exclusive_producer(node.args[0])
        if owner is not None and not self.layers[owner].normalized_by:
            planes = p.along(1) if p.dims in ((), (1,)) else ()
            if len(planes) == 1 and planes[0].layer == owner and not planes[0].norms:
                self.norms.append(Norm(path, mod, owner, planes[0].units, node))
                self.layers[owner].normalized_by.append(path)
                return out
        index = len(self.norms)
        self.norms.append(Norm(path, mod, None, None, node))
        full = out.expanded((1,))
        axis = full.dims.index(1)
        shape = [1] * len(full.dims)
        shape[axis] = full.shape[1]
        channel = np.broadcast_to(np.arange(full.shape[1]).reshape(shape), full.unit_shape)
        planes = tuple(
            Plane(q.layer, q.units, (*q.norms, (index, np.ascontiguousarray(channel))))
            for q in full.planes
        )
        return Provenance(full.shape, full.dims, planes).compress()

    def _exclusive_producer(self, source: Any) -> int | None:
        """The layer whose output reaches ``source`` through per-channel ops only, if
        nothing else reads that output on the way."""
        n = source
        while isinstance(n, fx.Node) and len(n.users) == 1:
            if n.op == "placeholder":
                return 0
            if n.op == "call_module":
                mod = self.modules.get(str(n.target))
                if isinstance(mod, WEIGHTED_MODULES):
                    return next((i for i, layer in enumerate(self.layers) if layer.node is n), None)
                if not isinstance(mod, PASS_MODULES):
                    return None
            elif not _is_op(n, PASS_METHODS, PASS_FUNCTIONS):
                return None
            n = n.args[0] if n.args else None
        return None

    # ------------------------------------------------------------------ functions
    def _function(self, node: fx.Node, traced: list[fx.Node]) -> Any:
        target = node.target
        if _is_op(node, PASS_METHODS, PASS_FUNCTIONS):
            return self.first(node).with_shape(self.shape(node))
        if _is_op(node, ADD_METHODS, ADD_FUNCTIONS):
            return merged([self.prov[a] for a in traced], self.shape(node))
        if _is_op(node, SCALE_METHODS, SCALE_FUNCTIONS):
            return self._scale(node, traced)
        if _is_op(node, RESHAPE_METHODS, RESHAPE_FUNCTIONS):
            return self.first(node).reshaped(self.shape(node))
        if _is_op(node, PERMUTE_METHODS, PERMUTE_FUNCTIONS):
            return self._permute(node)
        if _is_op(node, SELECT_METHODS, SELECT_FUNCTIONS):
            return self._select(node)
        if _is_op(node, REDUCE_METHODS, REDUCE_FUNCTIONS):
            p = self.first(node)
            dims = _arg(node, 1, "dim")
            if dims is None:
                raise UnsupportedOp("it reduces over every dimension, units included")
            dims = [dims] if isinstance(dims, int) else list(dims)
            return p.reduced(dims, self.shape(node), bool(_arg(node, 2, "keepdim", False)))
        if _is_op(node, frozenset(), CAT_FUNCTIONS):
            return self._cat(node)
        name = getattr(target, "__name__", str(target))
        raise UnsupportedModelError(
            f"operation {name!r} ({describe(node)}) is applied to values computed from the "
            "input, and nngraph does not know how it maps units; supported between "
            "weighted layers: activations, dropout, pooling, resizing, padding, flatten/"
            "view/reshape/permute, indexing and chunk/split of channels, residual add, "
            "torch.cat, scaling by a constant"
        )

    def _scale(self, node: fx.Node, traced: list[fx.Node]) -> Provenance:
        out_shape = self.shape(node)
        if len(traced) > 1:
            if self.gating == "ignore":
                provs = [self.prov[a] for a in traced]
                main = [p for p in provs if p.shape == out_shape]
                if len(main) == 1 and len(provs) == 2:
                    return main[0]
            raise UnsupportedModelError(
                f"{describe(node)} multiplies two tensors computed from the input "
                "(gating, e.g. squeeze-and-excitation); nngraph cannot read that as "
                "weights between units. gating='ignore' treats a broadcast gate as a "
                "positive per-channel scale outside the graph (an approximation)"
            )
        for other in _flatten_args((node.args, node.kwargs)):
            meta = self.shapes.get(other) if isinstance(other, fx.Node) else None
            if other not in self.prov and isinstance(meta, TensorMeta) and meta.numel > 1:
                raise UnsupportedModelError(
                    f"{describe(node)} scales by a tensor of shape {meta.shape} (a "
                    "per-channel or per-element factor, which changes the weights between "
                    "units); nngraph passes through scaling by a single number only: fold "
                    "the factor into the next layer's weights"
                )
        return self.prov[traced[0]].with_shape(out_shape)

    def _permute(self, node: fx.Node) -> Provenance:
        p = self.first(node)
        name = node.target if node.op == "call_method" else node.target.__name__
        rest = list(node.args[1:])
        order = list(range(p.ndim))
        if name == "permute":
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
            dims = dims or node.kwargs.get("dims")
            order = [int(d) % p.ndim for d in dims]
        elif name in ("transpose", "swapaxes", "swapdims"):
            a = int(_arg(node, 1, "dim0")) % p.ndim
            b = int(_arg(node, 2, "dim1")) % p.ndim
            order[a], order[b] = order[b], order[a]
        else:  # movedim
            src, dst = _arg(node, 1, "source"), _arg(node, 2, "destination")
            src = [src] if isinstance(src, int) else list(src)
            dst = [dst] if isinstance(dst, int) else list(dst)
            src = [s % p.ndim for s in src]
            dst = [d % p.ndim for d in dst]
            rest_dims = [d for d in range(p.ndim) if d not in src]
            order = [-1] * p.ndim
            for s, d in zip(src, dst, strict=True):
                order[d] = s
            it = iter(rest_dims)
            order = [o if o >= 0 else next(it) for o in order]
        return p.permuted(order)

    def _select(self, node: fx.Node) -> Any:
        source = node.args[0]
        value = self.prov.get(source)
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        if name in ("getitem", "__getitem__"):
            index = node.args[1]
            if isinstance(value, tuple):  # an element of chunk/split's result
                if not isinstance(index, int):
                    raise UnsupportedOp("it takes a slice of a tuple of tensors")
                return value[index]
            if any(isinstance(a, fx.Node) for a in _flatten_args(index)):
                raise UnsupportedOp("it indexes with values computed at run time")
            items = index if isinstance(index, tuple) else (index,)
            return value.indexed(items, self.shape(node))
        p = self.first(node)
        out = self.shapes.get(node)
        if name in ("chunk", "split", "tensor_split", "unbind"):
            default = 0
            dim_pos = 1 if name == "unbind" else 2
            dim = int(_arg(node, dim_pos, "dim", default)) % p.ndim
            pieces, offset = [], 0
            for meta in out:
                if name == "unbind":
                    items = [slice(None)] * p.ndim
                    items[dim] = offset
                    pieces.append(p.indexed(tuple(items), meta.shape))
                    offset += 1
                    continue
                size = meta.shape[dim]
                pieces.append(p.selected(dim, np.arange(offset, offset + size), meta.shape))
                offset += size
            return tuple(pieces)
        if name == "narrow":
            dim = int(_arg(node, 1, "dim")) % p.ndim
            start, length = int(_arg(node, 2, "start")), int(_arg(node, 3, "length"))
            return p.selected(dim, np.arange(start, start + length), out.shape)
        if name == "select":
            dim = int(_arg(node, 1, "dim")) % p.ndim
            items = [slice(None)] * p.ndim
            items[dim] = int(_arg(node, 2, "index"))
            return p.indexed(tuple(items), out.shape)
        raise UnsupportedOp(f"it selects positions with {name} and an index tensor")

    def _cat(self, node: fx.Node) -> Provenance:
        tensors = _arg(node, 0, "tensors")
        dim = int(_arg(node, 1, "dim", 0))
        if isinstance(tensors, fx.Node) and isinstance(self.prov.get(tensors), tuple):
            provs = list(self.prov[tensors])  # torch.cat(x.chunk(2, 1), 1)
        elif not isinstance(tensors, (list, tuple)) or any(
            not isinstance(t, fx.Node) or not isinstance(self.prov.get(t), Provenance)
            for t in tensors
        ):
            raise UnsupportedOp("it concatenates a tensor that is not computed from the input")
        else:
            provs = [self.prov[t] for t in tensors]
        out_shape = self.shape(node)
        if node.target is torch.stack:
            dim %= len(out_shape)
            provs = [p.reshaped(p.shape[:dim] + (1,) + p.shape[dim:]) for p in provs]
        return concatenated(provs, dim, out_shape)
