"""Running a user's model safely under ``torch.fx``: unwrap, freeze, trace, record shapes.

* :func:`unwrap_model` -- the module inside ``nn.DataParallel``,
  ``DistributedDataParallel`` and ``torch.compile``.
* :func:`frozen` -- eval mode for every module while nngraph works, and afterwards every
  module's mode and every buffer exactly as they were, whether the work succeeded or not
  (a forward pass must never leave, say, batch-norm statistics updated).
* :func:`symbolic_trace` -- ``torch.fx`` tracing in eval mode, with batch norms of any
  library kept whole and the extra ``forward`` arguments at their defaults.
* :func:`run_shapes` -- one forward pass that keeps every value's shape, not the value.
"""

from __future__ import annotations

import contextlib
import inspect
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from . import _operations as ops
from ._inplace import read_in_place_results

__all__ = [
    "TensorMeta",
    "UnsupportedModelError",
    "describe",
    "frozen",
    "kept_tensor_attributes",
    "model_device_dtype",
    "run_shapes",
    "symbolic_trace",
    "unwrap_model",
]


class UnsupportedModelError(ValueError):
    """The model holds a module or an operation nngraph cannot interpret as units."""


def unwrap_model(model: Any) -> nn.Module:
    """Return the module a wrapper holds, unwrapped repeatedly.

    The wrappers are ``DataParallel``/``DistributedDataParallel`` (``.module``) and
    ``torch.compile`` (``._orig_mod``).

    Examples
    --------
    >>> import torch.nn as nn
    >>> inner = nn.Linear(2, 2)
    >>> unwrap_model(nn.DataParallel(inner)) is inner
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration; modes and buffers restored afterwards, even on error.

    Every buffer is snapshot on entry; on exit a buffer replaced by another tensor is
    put back, and one changed in place gets its old values back, so the model's state
    dict is byte-identical whatever ran inside.
    """
    modes = [(m, m.training) for m in model.modules()]
    saved = [
        (module, name, buf, buf.detach().clone())
        for module in model.modules()
        for name, buf in module._buffers.items()
        if buf is not None
    ]
    try:
        model.eval()
        with kept_tensor_attributes(model):
            yield
    finally:
        for module, mode in modes:
            module.training = mode
        with torch.no_grad():
            for module, name, buf, copy in saved:
                if module._buffers.get(name) is not buf:
                    module._buffers[name] = buf
                if buf.shape != copy.shape or not torch.equal(buf, copy):
                    buf.copy_(copy)


@contextlib.contextmanager
def kept_tensor_attributes(model: nn.Module) -> Iterator[None]:
    """Put back the modules' plain tensor attributes (not parameters, not buffers) on exit.

    A forward pre-hook may set one on every pass: pruning
    (``torch.nn.utils.prune``) and the older ``weight_norm`` / ``spectral_norm`` set
    ``module.weight`` from ``weight_orig``. Run on fake tensors (:func:`run_shapes`) or
    inside nngraph, that would leave the module holding nngraph's tensor.
    """
    saved = [(m, dict(_tensors(m))) for m in model.modules()]
    try:
        yield
    finally:
        for module, before in saved:
            for name in [n for n, _ in _tensors(module) if n not in before]:
                del module.__dict__[name]
            module.__dict__.update(before)


def _tensors(module: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    return ((k, v) for k, v in list(vars(module).items()) if isinstance(v, torch.Tensor))


class _Tracer(fx.Tracer):
    """Keeps every batch norm whole, from torch or another library (timm's BatchNormAct2d)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def symbolic_trace(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` (call inside :func:`frozen`, so train-only branches are not traced).

    ``forward``'s first argument is the input; the others must have defaults, which are
    traced in (e.g. ``forward(x, mask=None)``).

    Raises
    ------
    ValueError
        (``UnsupportedModelError`` in the caller) ``forward`` needs more than one input,
        or ``torch.fx`` cannot trace it.
    """
    params = list(inspect.signature(model.forward).parameters.values())
    concrete: dict[str, Any] = {}
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise UnsupportedModelError(
                f"the model's forward takes more than one input ({p.name!r} has no default); "
                "nngraph supports one input tensor (other arguments need defaults)"
            )
        concrete[p.name] = p.default
    tracer = _Tracer()
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception as exc:
        raise UnsupportedModelError(
            f"torch.fx could not trace {type(model).__name__}: {exc}. nngraph reads the "
            "network's structure with torch.fx, so forward() must be traceable (no "
            "data-dependent control flow)."
        ) from exc
    # Readers after an in-place op read its result (the same tensor): see _inplace.
    read_in_place_results(graph, dict(tracer.root.named_modules()))
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


@dataclass(frozen=True)
class TensorMeta:
    """What the tracer keeps of a tensor: its shape and number of elements."""

    shape: tuple[int, ...]
    numel: int

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)


def _meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorMeta(tuple(int(s) for s in value.shape), int(value.numel()))
    if isinstance(value, torch.Size):
        return tuple(int(s) for s in value)
    if isinstance(value, (tuple, list)):
        return tuple(_meta(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str, slice, torch.dtype)):
        return value
    return None


def describe(node: fx.Node) -> str:
    """Describe the op of a node, and the module it sits in, for error messages."""
    stack = node.meta.get("nn_module_stack") or {}
    where = next(reversed(stack.values()))[0] if stack else ""
    if node.op == "call_module":
        what = f"module {node.target!r}"
    elif node.op == "call_method":
        what = f"method Tensor.{node.target}"
    elif node.op == "call_function":
        name = getattr(node.target, "__name__", repr(node.target))
        what = f"function {getattr(node.target, '__module__', '')}.{name}"
    else:
        what = f"{node.op} {node.target}"
    return what + (f" (inside module {where!r})" if where and node.op != "call_module" else "")


class _ShapeInterpreter(fx.Interpreter):
    """Runs the graph, keeping each node's :class:`TensorMeta` (values are freed)."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.extra_traceback = False  # fx's node dump and log-parser link: not for users
        self.shapes: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        try:
            out = super().run_node(n)
        except Exception as exc:
            note = ""
            args = [a for a in n.args if isinstance(a, fx.Node)]
            if args and isinstance(self.shapes.get(args[0]), TensorMeta):
                note = f" on a tensor of shape {self.shapes[args[0]].shape}"
            message = f"running the model on its input failed at {describe(n)}{note}: {exc}"
            try:
                new = type(exc)(message)
            except Exception:
                new = RuntimeError(message)
            raise new from exc
        self.shapes[n] = _meta(out)
        return out


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Return the device and floating dtype of the model's first parameter (CPU, default dtype)."""
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


#: Parameters times input elements up to which a model made only of the operations below
#: gets a real forward pass for its shapes (then at most that many multiply-adds: a few
#: hundredths of a second, as 3.9e10 took 0.8 s here). Fake tensors cost nothing per
#: layer, but their first use imports ``torch._dynamo`` (1.0 to 1.6 s per process); for
#: the digits MLP (215,000 parameters, 64 inputs) the real pass takes a millisecond.
_REAL_PASS_MAX_WORK = 10**9

#: Modules whose work is at most their parameters times the positions they slide over
#: (or linear in their input), and whose output is no larger than that work: the
#: weighted layers, normalisation, activations, identities, reshapes and plain pooling;
#: no upsampling, transposed convolution, attention or adaptive pooling.
_BOUNDED_MODULES: tuple[type, ...] = (
    ops.WEIGHTED_MODULES
    + ops.ACTIVATION_MODULES
    + ops.IDENTITY_MODULES
    + ops.RESHAPE_MODULES
    + (
        nn.modules.batchnorm._NormBase,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.modules.dropout._DropoutNd,
        nn.modules.pooling._MaxPoolNd,
        nn.modules.pooling._AvgPoolNd,
        nn.PReLU,
        nn.Softmax,
        nn.LogSoftmax,
    )
)

#: Functions and tensor methods of the same kind: elementwise, reductions, reshapes.
_BOUNDED_FUNCTIONS = (
    ops.ACTIVATION_FUNCTIONS
    | ops.IDENTITY_FUNCTIONS
    | ops.ADD_FUNCTIONS
    | {
        operator.mul,
        operator.truediv,
        operator.neg,
        torch.mul,
        torch.flatten,
        torch.cat,
        torch.nn.functional.softmax,
        torch.nn.functional.log_softmax,
        torch.nn.functional.max_pool1d,
        torch.nn.functional.max_pool2d,
        torch.nn.functional.avg_pool1d,
        torch.nn.functional.avg_pool2d,
        getattr,
    }
)
_BOUNDED_METHODS = (
    ops.ACTIVATION_METHODS
    | ops.IDENTITY_METHODS
    | frozenset(
        "view reshape flatten size dim add add_ mul mul_ sub mean sum float double to "
        "squeeze view_as reshape_as".split()
    )
)


def _bounded(gm: fx.GraphModule) -> bool:
    """Whether every operation of ``gm`` is one whose cost the parameters bound.

    Indexing counts when it adds no dimension (``x[:, None]`` could broadcast into an
    outer product).
    """
    for node in gm.graph.nodes:
        if node.op == "call_module":
            if not isinstance(gm.get_submodule(node.target), _BOUNDED_MODULES):
                return False
        elif node.op == "call_function":
            if node.target is operator.getitem:
                index = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
                if any(i is None or i is Ellipsis for i in index):
                    return False
            elif node.target not in _BOUNDED_FUNCTIONS:
                return False
        elif node.op == "call_method" and node.target not in _BOUNDED_METHODS:
            return False
    return True


def run_shapes(model: nn.Module, gm: fx.GraphModule, example_input: Any) -> dict[fx.Node, Any]:
    """Each node's output shape for ``example_input``, without gradients.

    A small model made of plain layers (:func:`_bounded`, and parameters times input
    elements at most ``_REAL_PASS_MAX_WORK``) is run for real: that costs less than
    loading fake tensors. Any other model is first run
    on fake tensors (shapes only, no arithmetic: a ResNet-50 at 224x224 costs
    milliseconds instead of a real forward pass); if anything in the model does not run
    that way, it is run for real. Either way, a real pass that fails is the error
    reported. Call it inside :func:`frozen`, which also puts back the fake tensors a
    forward pre-hook leaves on a module (:func:`kept_tensor_attributes`).
    """
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    device, dtype = model_device_dtype(model)
    x = example_input.detach().to(device=device)
    if x.is_floating_point():
        x = x.to(dtype)
    n_params = sum(p.numel() for p in model.parameters())
    if n_params * max(x.numel(), 1) > _REAL_PASS_MAX_WORK or not _bounded(gm):
        try:
            from torch._subclasses.fake_tensor import FakeTensorMode

            with FakeTensorMode(allow_non_fake_inputs=True) as mode, torch.no_grad():
                interp = _ShapeInterpreter(gm)
                interp.run(mode.from_tensor(x))
            return interp.shapes
        except Exception:
            pass  # not fake-runnable (or failing): the real pass gives the real answer or error
    interp = _ShapeInterpreter(gm)
    with torch.no_grad():
        interp.run(x.clone())  # a forward that writes to its input must not reach the data
    return interp.shapes
