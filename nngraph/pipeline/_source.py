"""Where the network and its data come from: a bundled network, or a function of yours.

``nngraph run --model package.module:function`` (or ``model="package.module:function"``
in :func:`nngraph.study` and in a TOML configuration) imports the module -- from the
current folder too, as ``python -m`` would -- and calls the function. It returns the
network and its data::

    def build(seed: int = 0):           # the seed argument is optional
        model = ...                     # a trained torch.nn.Module (a classifier)
        return model, (x_train, y_train, x_test, y_test)

The data may be an :class:`nngraph.datasets.Dataset`, a tuple ``(x_train, y_train,
x_test, y_test)`` of tensors or arrays, a dict with those keys, or a pair of data
loaders ``(train_loader, test_loader)`` yielding ``(inputs, targets)`` batches (read
once into memory). Targets are class indices, one per example (or one per head).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from ..datasets import Dataset
from ._config import is_source_spec

__all__ = ["as_dataset", "is_source_spec", "load_source"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")


@contextlib.contextmanager
def _current_folder_importable() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)


def load_source(spec: str, *, seed: int = 0) -> tuple[torch.nn.Module, Dataset, dict[str, Any]]:
    """Import ``"package.module:function"``, call it, and check what it returns.

    Parameters
    ----------
    spec : str
        The module (importable, or a ``.py`` file's name in the current folder, without
        ``.py``) and the function, separated by ``:``.
    seed : int, default=0
        Passed as ``seed=`` when the function takes that argument.

    Returns
    -------
    model : torch.nn.Module
    data : Dataset
    info : dict
        ``{"name": spec, "source": spec}`` and whatever the function's third return
        value (a dict), if any, adds.

    Raises
    ------
    ValueError
        A malformed spec, or a function returning something else than documented.
    ImportError
        The module cannot be imported (its own error is chained).
    """
    module_name, _, func_name = spec.rpartition(":")  # a Windows path has a ':' too
    if not module_name or not func_name or not func_name.isidentifier():
        raise ValueError(f"model {spec!r}: expected 'package.module:function' (e.g. 'mynet:build')")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        stem = os.path.splitext(module_name.replace("\\", "/").rsplit("/", 1)[-1])[0]
        raise ValueError(
            f"model {spec!r}: give the module's name, not a file path: '{stem}:{func_name}' "
            "from the folder that holds the file (or a package.module on the Python path)"
        )
    with _current_folder_importable():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise ImportError(
                    f"model {spec!r}: no module named {module_name!r} (looked in the "
                    f"current folder {os.getcwd()} and on the Python path)"
                ) from exc
            raise
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"model {spec!r}: {module_name!r} has no function {func_name!r}")
    try:
        takes_seed = "seed" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        takes_seed = False
    out = func(seed=seed) if takes_seed else func()
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise ValueError(
            f"model {spec!r}: the function must return (model, data) or (model, data, info), "
            f"got {type(out).__name__}"
        )
    model, data = out[0], out[1]
    info = {"name": spec, "source": spec}
    if len(out) == 3:
        if not isinstance(out[2], Mapping):
            raise ValueError(f"model {spec!r}: the third value returned must be a dict")
        info.update(out[2])
    if not isinstance(model, torch.nn.Module):
        raise ValueError(
            f"model {spec!r}: the first value returned must be a torch.nn.Module, "
            f"got {type(model).__name__}"
        )
    return model, as_dataset(data, name=module_name.rsplit(".", 1)[-1], where=spec), info


def _tensor(value: Any, key: str, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.from_numpy(np.asarray(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {key} must be a tensor or an array ({exc})") from None


def _concat(loader: Iterable[Any], which: str, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(f"{where}: the {which} loader must yield (inputs, targets) batches")
        xs.append(_tensor(batch[0], f"{which} inputs", where))
        ys.append(_tensor(batch[1], f"{which} targets", where))
    if not xs:
        raise ValueError(f"{where}: the {which} loader yielded no batch")
    return torch.cat(xs), torch.cat(ys)


def as_dataset(data: Any, *, name: str = "data", where: str = "data") -> Dataset:
    """Turn the data forms :func:`load_source` accepts into a :class:`Dataset`.

    Parameters
    ----------
    data : Dataset, tuple, dict or pair of loaders
        See the module's description.
    name : str, default="data"
        The data set's name in reports.
    where : str, default="data"
        What to call the data in error messages.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((6, 3), np.float32)
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> as_dataset((x, y, x, y)).n_classes
    3
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Mapping):
        missing = [k for k in _KEYS if k not in data]
        if missing:
            raise ValueError(f"{where}: the data dict lacks {missing} (needs {list(_KEYS)})")
        parts = [_tensor(data[k], k, where) for k in _KEYS]
        n_classes = data.get("n_classes")
        image_shape = data.get("image_shape")
    elif isinstance(data, (tuple, list)) and len(data) == 4:
        parts = [_tensor(v, k, where) for k, v in zip(_KEYS, data, strict=True)]
        n_classes, image_shape = None, None
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        if all(isinstance(d, (torch.Tensor, np.ndarray)) for d in data):
            raise ValueError(
                f"{where}: got two arrays; the data need a test split too: (x_train, "
                "y_train, x_test, y_test), a dict with those keys, or (train_loader, "
                "test_loader)"
            )
        parts = [*_concat(data[0], "train", where), *_concat(data[1], "test", where)]
        n_classes, image_shape = None, None
    else:
        raise ValueError(
            f"{where}: expected a Dataset, (x_train, y_train, x_test, y_test), a dict with "
            f"those keys, or (train_loader, test_loader); got {type(data).__name__}"
        )
    x_train, y_train, x_test, y_test = parts
    for key, y in (("y_train", y_train), ("y_test", y_test)):
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(f"{where}: {key} must hold integer class indices, got {y.dtype}")
    y_train, y_test = y_train.long(), y_test.long()
    if x_train.is_floating_point():
        x_train, x_test = x_train.float(), x_test.float()
    if n_classes is None:
        n_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    try:
        return Dataset(
            x_train,
            y_train,
            x_test,
            y_test,
            n_classes=int(n_classes),
            name=name,
            image_shape=tuple(image_shape) if image_shape is not None else None,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
