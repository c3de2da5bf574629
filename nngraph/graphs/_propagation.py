"""One walk over a traced graph, giving every tensor its provenance (see :mod:`._tracing`)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from ._fx import (
    TensorMeta,
    UnsupportedModelError,
    describe,
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
from ._trace import Consumption, Layer, Norm, Trace

__all__ = ["Propagator"]


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


class Propagator:
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
        """Find the layer whose output reaches ``source`` through per-channel ops only.

        It is found only if nothing else reads that output on the way.
        """
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
