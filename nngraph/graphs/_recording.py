"""Recording the activations of a network's units over a data set (the activation graph).

The units are those of :func:`nngraph.graphs._tracing.trace_model` (the same layers, names and
order as :func:`nngraph.weight_graph`). Each weighted module gets a forward hook that
reduces its output to one number per unit and example; the model's modes are restored
and the hooks removed however the pass ends.

What is recorded for a unit (the *recording point*) is read from the ``torch.fx`` graph:

- the output of the weighted module, or of the batch norm that directly consumes it
  (only parameter-free identity operations such as dropout in between, and nothing else
  reading the module's output): the unit's value as the next layer sees it before the
  nonlinearity;
- for ``activation="post"``, that value passed through the element-wise activation
  that directly consumes it (an ``nn.ReLU``-like module, ``F.relu``-like function or
  ``Tensor.relu``-like method, applied by nngraph to a copy with the same arguments).
  A unit whose value goes straight to the model's output (the logits) has the identity
  activation. Any other consumer (a residual ``add``, pooling, a second reader) has no
  single post-activation value and raises :class:`UnsupportedModelError`.

Convolution channels are summarised per example over their spatial positions by the
mean (``spatial="mean"``) or the mean absolute value (``"mean_abs"``), after the
activation for ``"post"``. The input layer is summarised the same way per channel, except
when the model only flattens it into ``Linear`` layers: its units are then the input's
features (``C * prod(S)`` of them, as in :func:`nngraph.weight_graph`), recorded as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ._device_correlation import statistics_on_device
from ._operations import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    ACTIVATION_MODULES,
    IDENTITY_FUNCTIONS,
    IDENTITY_METHODS,
    IDENTITY_MODULES,
)
from ._tracing import Layer, UnsupportedModelError

__all__ = ["RecordPoint", "iter_batches", "plan_recording", "Recorder"]

_BATCHNORM = nn.modules.batchnorm._BatchNorm

SPATIAL = ("mean", "mean_abs")


@dataclass
class RecordPoint:
    """Where and how one layer's units are recorded (made by :func:`plan_recording`)."""

    layer: int  # index into Trace.layers
    name: str
    kind: str
    n_units: int
    is_output: bool
    module: nn.Module | None  # module whose output is hooked (None: the input)
    recorded_at: str  # module path hooked, or "input"
    batchnorm: str | None = None  # batch norm applied (its path), if any
    activation: Callable[[torch.Tensor], torch.Tensor] | None = None
    activation_name: str | None = None  # "relu", ..., "identity"; None for pre-activation
    unit_dim: int = 1  # the dimension of the hooked output that carries the units
    # A batch norm of another library that applies its activation itself (timm's
    # BatchNormAct2d): "pre" recomputes the batch norm alone from the hook's input.
    batchnorm_only: bool = False


# ---------------------------------------------------------------------- batches
def iter_batches(inputs: Any, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield the input batches of ``inputs`` as tensors.

    Parameters
    ----------
    inputs : torch.Tensor, numpy.ndarray or iterable of batches
        A tensor or array is cut into batches of ``batch_size`` rows; an iterable (e.g.
        a ``DataLoader``) yields batches, and a batch that is a tuple or list (e.g.
        ``(x, y)``) contributes its first element.
    batch_size : int
        Rows per batch of a tensor or array.

    Yields
    ------
    torch.Tensor
        Each batch, with a batch dimension and at least one feature dimension.

    Raises
    ------
    TypeError
        ``inputs`` or a batch of the wrong type.
    ValueError
        A batch without a feature dimension, or an empty tuple.

    Examples
    --------
    >>> import numpy as np
    >>> [tuple(b.shape) for b in iter_batches(np.zeros((5, 3)), 2)]
    [(2, 3), (2, 3), (1, 3)]
    """
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        x = _as_tensor(inputs, "inputs")
        _check_batch_dim(x, "inputs")
        for start in range(0, x.shape[0], batch_size):
            yield x[start : start + batch_size]
        return
    if isinstance(inputs, (str, bytes, dict)) or not isinstance(inputs, Iterable):
        raise TypeError(
            "inputs must be a tensor, an array or an iterable of batches (e.g. a "
            f"DataLoader), got {type(inputs).__name__}"
        )
    for i, batch in enumerate(inputs):
        if isinstance(batch, (tuple, list)):
            if not batch:
                raise ValueError(f"batch {i} of inputs is an empty {type(batch).__name__}")
            batch = batch[0]
        x = _as_tensor(batch, f"batch {i} of inputs")
        _check_batch_dim(x, f"batch {i} of inputs")
        yield x


def _as_tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    raise TypeError(
        f"{what} must be a torch.Tensor or a numpy array (or a tuple/list whose first "
        f"element is one), got {type(x).__name__}"
    )


def _check_batch_dim(x: torch.Tensor, what: str) -> None:
    if x.dim() < 2:
        raise ValueError(
            f"{what} has shape {tuple(x.shape)}; expected a batch dimension followed by "
            "at least one feature dimension, e.g. (n_examples, n_features)"
        )


# ---------------------------------------------------------------------- plan
def plan_recording(
    model: nn.Module,
    layers: list[Layer],
    keep: list[int],
    *,
    graph_module: fx.GraphModule,
    activation: str,
    fold_batchnorm: bool,
) -> list[RecordPoint]:
    """Decide, for each kept layer, which module output is hooked and what is applied.

    Parameters
    ----------
    model : torch.nn.Module
        The traced model.
    layers : list of Layer
        ``trace.layers`` of :func:`nngraph.graphs._tracing.trace_model`.
    keep : list of int
        Indices of the layers to record, in order.
    graph_module : torch.fx.GraphModule
        ``trace.graph_module``: who reads each module's output.
    activation : {"pre", "post"}
        Record the unit's value before its nonlinearity, or after the element-wise
        activation that reads it.
    fold_batchnorm : bool
        Hook the batch norm that directly follows a weighted module instead of it.

    Returns
    -------
    list of RecordPoint
        One per kept layer, in order.

    Raises
    ------
    UnsupportedModelError
        ``activation="post"`` on a unit read by anything but one element-wise
        activation (naming the layer and its readers).

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> from nngraph.graphs._tracing import trace_model
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    >>> trace = trace_model(model, torch.zeros(2, 3))
    >>> points = plan_recording(model, trace.layers, [1, 2], graph_module=trace.graph_module,
    ...                         activation="post", fold_batchnorm=True)
    >>> [(p.name, p.recorded_at, p.activation_name) for p in points]
    [('0', '1', 'ReLU'), ('3', '3', 'identity')]
    """
    points: list[RecordPoint] = []
    modules = dict(model.named_modules())
    calls: dict[str, list[fx.Node]] = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            calls.setdefault(str(node.target), []).append(node)
    for i in keep:
        layer = layers[i]
        identity = (layer.name, layer.kind, layer.n_units, layer.is_output)
        if layer.kind == "input":
            points.append(
                RecordPoint(i, *identity, module=None, recorded_at="input", unit_dim=layer.unit_dim)
            )
            continue
        node = _follow_identity(calls[layer.name][0], modules)
        hooked, bn = layer.module, None
        if fold_batchnorm:
            user = _single_user(node)
            if (
                user is not None
                and user.op == "call_module"
                and isinstance(modules.get(str(user.target)), _BATCHNORM)
                and len(calls[str(user.target)]) == 1
            ):
                bn = str(user.target)
                hooked = modules[bn]
                node = _follow_identity(user, modules)
        act, act_name = None, None
        own_activation = bn is not None and _applies_activation(modules[bn])
        if activation == "post" and own_activation:
            act, act_name = _identity, type(modules[bn]).__name__
        elif activation == "post":
            act, act_name = _following_activation(node, modules, layer.name)
        points.append(
            RecordPoint(
                i,
                *identity,
                module=hooked,
                recorded_at=bn or layer.name,
                batchnorm=bn,
                activation=act,
                activation_name=act_name,
                unit_dim=layer.unit_dim,
                batchnorm_only=own_activation and activation == "pre",
            )
        )
    return points


def _applies_activation(bn: nn.Module) -> bool:
    """Whether a batch norm's class overrides ``forward`` (to apply an activation too)."""
    cls = type(bn)
    torch_classes = [c for c in cls.__mro__ if c.__module__.startswith("torch.nn")]
    return bool(torch_classes) and cls.forward is not torch_classes[0].forward


def batchnorm_alone(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Compute the eval-mode batch norm of ``x``, without anything a subclass adds to it."""
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _single_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _is_identity(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(str(node.target)), IDENTITY_MODULES)
    if node.op == "call_function":
        return node.target in IDENTITY_FUNCTIONS
    if node.op == "call_method":
        return node.target in IDENTITY_METHODS
    return False


def _follow_identity(node: fx.Node, modules: dict[str, nn.Module]) -> fx.Node:
    """Follow the chain of value-preserving single consumers from ``node`` to its last node."""
    while True:
        user = _single_user(node)
        if user is None or not _is_identity(user, modules) or user.args[0] is not node:
            return node
        node = user


def _describe_node(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"module {node.target!r}"
    if node.op == "call_method":
        return f"method Tensor.{node.target}"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)}"
    return f"{node.op} {node.target}"


def _following_activation(
    node: fx.Node, modules: dict[str, nn.Module], layer: str
) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    users = list(node.users)
    if len(users) != 1:
        readers = ", ".join(_describe_node(u) for u in users) or "nothing"
        raise UnsupportedModelError(
            f"activation='post': the value of layer {layer!r} is read by {readers}, not "
            "by one element-wise activation, so it has no single post-activation value; "
            "use activation='pre'"
        )
    user = users[0]
    if user.op == "output":
        return _identity, "identity"
    extra = [a for a in (*user.args[1:], *user.kwargs.values()) if isinstance(a, fx.Node)]
    ok = not extra and user.args and user.args[0] is node
    if ok and user.op == "call_module":
        mod = modules[str(user.target)]
        if isinstance(mod, ACTIVATION_MODULES):
            return (lambda t, f=mod.forward: f(t)), type(mod).__name__
    if ok and user.op == "call_function" and user.target in ACTIVATION_FUNCTIONS:
        args, kwargs, fn = user.args[1:], dict(user.kwargs), user.target
        return (lambda t: fn(t, *args, **kwargs)), getattr(fn, "__name__", str(fn))
    if ok and user.op == "call_method" and user.target in ACTIVATION_METHODS:
        args, kwargs, name = user.args[1:], dict(user.kwargs), str(user.target)
        return (lambda t: getattr(t, name)(*args, **kwargs)), name
    raise UnsupportedModelError(
        f"activation='post': the value of layer {layer!r} goes to {_describe_node(user)}, "
        "which is not an element-wise activation nngraph knows (ReLU-like modules, "
        "functions and Tensor methods); use activation='pre'"
    )


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


# ---------------------------------------------------------------------- recording
def summarize(t: torch.Tensor, spatial: str, unit_dim: int = 1) -> torch.Tensor:
    """One float64 value per (example, unit): ``(N, C, *S)`` -> ``(N, C)``, on ``t``'s device.

    Parameters
    ----------
    t : torch.Tensor
        A layer's output; 2-D values are only copied to float64.
    spatial : {"mean", "mean_abs"}
        The summary over spatial positions (or tokens).
    unit_dim : int, default=1
        The dimension carrying the units (the last one for a token-wise ``Linear``).

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> import torch
    >>> t = torch.tensor([[[1.0, -3.0]], [[2.0, 2.0]]])  # 2 examples, 1 channel, 2 positions
    >>> summarize(t, "mean").tolist(), summarize(t, "mean_abs").tolist()
    ([[-1.0], [2.0]], [[2.0], [2.0]])
    """
    if unit_dim % t.dim() != 1:
        t = t.movedim(unit_dim, 1)
    if spatial == "mean_abs" and t.dim() > 2:
        t = t.abs()
    if t.dim() > 2:
        out = t.mean(dim=tuple(range(2, t.dim())), dtype=torch.float64)
    else:
        out = t.to(dtype=torch.float64, copy=True)
    return out


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


class Recorder:
    """Context manager: eval mode and forward hooks on entry, both undone on exit.

    Inside the ``with`` block, :meth:`run` returns a batch's activations: a float64
    numpy array, or, for a model on a CUDA GPU, a float64 tensor left on the GPU (see
    ``on_device``). On exit, however the block ends (an error included), every hook is
    removed and every module gets back its own training mode.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    points : list of RecordPoint
        From :func:`plan_recording`.
    spatial : {"mean", "mean_abs"}
        The summary of convolution channels (see :func:`summarize`).
    on_device : bool, optional
        Leave the activations on the model's device as a torch tensor (for statistics
        computed there). Default: on a CUDA GPU
        (:func:`~._device_correlation.statistics_on_device`), else a numpy array.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> from nngraph.graphs._tracing import trace_model
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> trace = trace_model(model, torch.zeros(1, 3))
    >>> points = plan_recording(model, trace.layers, [1, 2], graph_module=trace.graph_module,
    ...                         activation="pre", fold_batchnorm=True)
    >>> x = torch.randn(5, 3)
    >>> with Recorder(model, points, "mean") as recorder:
    ...     values = recorder.run(x, 0)
    >>> values.shape, bool(torch.allclose(torch.from_numpy(values[:, :4]).float(), model[0](x)))
    ((5, 6), True)
    >>> any(m._forward_hooks for m in model.modules())
    False
    """

    def __init__(
        self,
        model: nn.Module,
        points: list[RecordPoint],
        spatial: str,
        *,
        on_device: bool | None = None,
    ) -> None:
        self.model = model
        self.points = points
        self.spatial = spatial
        self.n_units = sum(p.n_units for p in points)
        self.device, self.dtype = _device_dtype(model)
        if on_device is None:
            on_device = statistics_on_device(self.device)
        self.on_device = bool(on_device)
        # Where run() assembles a batch's values: the device, or the host.
        self._out_device = self.device if self.on_device else torch.device("cpu")
        self._values: dict[int, torch.Tensor] = {}
        self._handles: list[Any] = []
        self._modes: list[tuple[nn.Module, bool]] = []

    def __enter__(self) -> Recorder:
        self._modes = [(m, m.training) for m in self.model.modules()]
        try:
            self.model.eval()
            for k, p in enumerate(self.points):
                if p.module is not None:
                    self._handles.append(p.module.register_forward_hook(self._hook(k, p)))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for m, mode in self._modes:
            m.training = mode
        self._values = {}

    def _hook(self, k: int, p: RecordPoint) -> Callable:
        spatial = self.spatial

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            v = batchnorm_alone(module, args[0]) if p.batchnorm_only else output
            v = v.detach()
            if p.activation is not None:
                v = p.activation(v.clone())
            self._values[k] = summarize(v, spatial, p.unit_dim)

        return hook

    def _input_values(self, x: torch.Tensor, p: RecordPoint) -> torch.Tensor:
        """Return the input layer's values: per channel, or per feature for a flattening MLP.

        When the input is read only by ``Linear`` layers through a flatten, the tracer
        (like :func:`nngraph.weight_graph`) gives it one unit per feature (``C * prod(S)``
        units) rather than one per channel; those units are the flattened input.
        """
        if x.dim() > 2 and p.n_units != x.shape[p.unit_dim] and p.n_units == x[0].numel():
            return x.flatten(1).to(dtype=torch.float64, copy=True)
        return summarize(x, self.spatial, p.unit_dim)

    def run(self, x: torch.Tensor, batch_index: int) -> np.ndarray | torch.Tensor:
        """Record the activations of one batch, units in the order of ``points``.

        Parameters
        ----------
        x : torch.Tensor
            The batch (moved to the model's device and floating dtype).
        batch_index : int
            Its position in the data set, for messages.

        Returns
        -------
        ndarray or torch.Tensor of float64, shape (n_examples, n_units)
            A tensor on the model's device when ``on_device``.

        Raises
        ------
        ValueError
            The model cannot run the batch, or NaN or infinite activations (naming the
            layer and the batch).
        RuntimeError
            A recorded layer did not run, or gave values of another shape.
        """
        # A copy: a forward that changes its input in place must not change the data.
        dtype = self.dtype if x.is_floating_point() else x.dtype
        x = x.detach().to(device=self.device, dtype=dtype, copy=True)
        self._values = {}
        # The input's units before the model runs (a forward may change its input in place).
        inputs = {
            k: self._input_values(x, p).clone()  # not a view of x
            for k, p in enumerate(self.points)
            if p.module is None
        }
        try:
            with torch.no_grad():
                self.model(x)
        except Exception as exc:
            raise ValueError(
                f"batch {batch_index} of inputs (shape {tuple(x.shape)}) could not be run "
                f"through the model: {exc}"
            ) from exc
        out = torch.empty((x.shape[0], self.n_units), dtype=torch.float64, device=self._out_device)
        col = 0
        for k, p in enumerate(self.points):
            v = inputs[k] if p.module is None else self._values.get(k)
            if v is None:
                raise RuntimeError(
                    f"layer {p.name!r} was not computed for batch {batch_index}; nngraph "
                    "needs every weighted layer to run on every batch"
                )
            if v.shape != (x.shape[0], p.n_units):
                raise RuntimeError(
                    f"layer {p.name!r} produced values of shape {tuple(v.shape)} for "
                    f"batch {batch_index}, expected ({x.shape[0]}, {p.n_units})"
                )
            out[:, col : col + p.n_units] = v
            col += p.n_units
        self._values = {}
        self._check_finite(out, batch_index)
        return out if self.on_device else out.numpy()

    def _check_finite(self, out: torch.Tensor, batch_index: int) -> None:
        """Raise naming the first layer with NaN or infinite values (one device sync)."""
        if self.on_device:
            if bool(torch.isfinite(out).all()):
                return
            out = out.cpu()  # an error follows: find its layer on the host
        a = out.numpy()
        if np.isfinite(a).all():  # numpy's check: torch's is much slower on the CPU
            return
        col = 0
        for p in self.points:
            block = a[:, col : col + p.n_units]
            if not np.isfinite(block).all():
                what = "NaN" if np.isnan(block).any() else "infinite values"
                raise ValueError(
                    f"the activations of layer {p.name!r} contain {what}, first in batch "
                    f"{batch_index} (0-based) of inputs"
                )
            col += p.n_units
