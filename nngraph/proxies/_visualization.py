"""Feature visualisation: inputs optimised to drive a set of units, many sets at once.

For a set ``S`` of a layer's units, an input ``x`` is optimised with Adam to maximise
``sum_{u in S} |mean activation of u|`` (the mean over the unit's spatial positions or
tokens), as in Hod et al. (learning rate 0.05, 64 steps by default). Every set of a
layer -- a sub-cluster and all its random controls -- is a row of one batch: rows do
not interact (eval mode, element-wise Adam), so the batch gives each row the input it
would get alone, in one forward pass per step.

Parameterisations (:class:`Parameterization`):

- ``"plain"``: any input shape; ``x = lo + (hi - lo) * sigmoid(theta)`` keeps each
  feature within the data's range ``[lo, hi]``.
- ``"fourier"``: images ``(C, H, W)``; ``theta`` is a spectrum scaled by ``1 / f``
  (low frequencies first), turned into an image by an inverse real FFT, with colours
  decorrelated for 3-channel images (the square root of a natural-image colour
  covariance), then squashed into the data's range like ``"plain"``. Written here after
  Olah et al.'s Lucid (whose PyTorch ports are unmaintained).

Optional transforms before each step (``jitter`` pixels of random translation,
``scale`` random rescaling) make the visualisations robust; the paper used none. The
objective and the network's softmax are recorded on the final input itself, after the
last step (the research code recorded the objective one step before the image kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "PARAMETERIZATIONS",
    "Parameterization",
    "entropy_bits",
    "optimise",
    "parameterization",
]

PARAMETERIZATIONS = ("plain", "fourier")

# The square root of a natural-image colour correlation (Lucid's ImageNet estimate),
# rows and columns in RGB order.
_COLOR_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64
)


@dataclass
class Parameterization:
    """How a batch of inputs is made from optimised parameters.

    Attributes
    ----------
    kind : {"plain", "fourier"}
    shape : tuple of int
        One input's shape (without the batch dimension).
    lo, hi : torch.Tensor
        The data's range, broadcastable to ``shape``.
    """

    kind: str
    shape: tuple[int, ...]
    lo: torch.Tensor
    hi: torch.Tensor

    def init(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Draw starting parameters for ``n`` inputs (small random values, seeded)."""
        if self.kind == "plain":
            shape = (n, *self.shape)
        else:
            c, h, w = self.shape
            shape = (n, c, h, w // 2 + 1, 2)
        theta = 0.01 * torch.randn(shape, generator=generator, dtype=torch.float64)
        return theta.to(device)

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """Make the inputs for parameters ``theta``."""
        if self.kind == "plain":
            raw = theta
        else:
            raw = self._fourier(theta)
        return self.lo + (self.hi - self.lo) * torch.sigmoid(raw)

    def _fourier(self, theta: torch.Tensor) -> torch.Tensor:
        c, h, w = self.shape
        fy = torch.fft.fftfreq(h, device=theta.device, dtype=theta.dtype)[:, None]
        fx = torch.fft.rfftfreq(w, device=theta.device, dtype=theta.dtype)[None, :]
        scale = 1.0 / torch.sqrt(fx * fx + fy * fy).clamp_min(1.0 / max(h, w))
        spectrum = torch.view_as_complex(theta.contiguous()) * scale
        image = torch.fft.irfft2(spectrum, s=(h, w), norm="ortho")
        if c == 3:
            colour = _COLOR_SQRT.to(image.device, image.dtype)
            colour = colour / colour.norm(dim=0).max()
            image = torch.einsum("ij,njhw->nihw", colour, image)
        return image * 4.0  # about unit spread before the sigmoid


def parameterization(
    kind: str, data: torch.Tensor, *, per_feature: bool = False
) -> Parameterization:
    """Build the parameterisation ``kind`` for inputs like ``data`` (their range included).

    Raises
    ------
    ValueError
        The inputs are not real numbers (say, token indices), or ``"fourier"`` on
        inputs that are not images ``(C, H, W)``: the message suggests
        ``method="dataset"`` or ``parameterization="plain"``.
    """
    if not data.is_floating_point():
        raise ValueError(
            f"feature visualisation optimises the input, but the inputs are "
            f"{data.dtype} (not real numbers, e.g. token indices); use method='dataset'"
        )
    shape = tuple(int(s) for s in data.shape[1:])
    if kind == "fourier" and len(shape) != 3:
        raise ValueError(
            f"parameterization='fourier' needs images (C, H, W), but the inputs have shape "
            f"{shape}; use parameterization='plain' (or method='dataset')"
        )
    flat = data.detach().double()
    if per_feature:
        lo, hi = flat.min(dim=0).values, flat.max(dim=0).values
    else:
        lo, hi = flat.min().reshape([1] * len(shape)), flat.max().reshape([1] * len(shape))
    hi = torch.where(hi > lo, hi, lo + 1.0)
    return Parameterization(kind, shape, lo, hi)


def _transform(
    x: torch.Tensor, jitter: int, scale: float, generator: torch.Generator
) -> torch.Tensor:
    """Random translation by up to ``jitter`` pixels and rescaling by up to ``scale``.

    The rescaling zooms about the image's centre by a factor ``s`` drawn uniformly from
    ``[1 - scale, 1 + scale]``, keeping its size (the network's input size is fixed):
    a part of the image fills the frame when ``s > 1``; when ``s < 1`` the whole image
    shrinks and its edge pixels are extended around it.
    """
    if x.dim() < 4 or (jitter == 0 and scale == 0):
        return x
    if scale:
        s = 1.0 + (2 * torch.rand((), generator=generator).item() - 1) * scale
        zoom = torch.zeros((x.shape[0], 2, 3), dtype=x.dtype, device=x.device)
        zoom[:, 0, 0] = zoom[:, 1, 1] = 1.0 / s  # output point p reads the input at p / s
        grid = F.affine_grid(zoom, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if jitter:
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
        x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    return x


def optimise(
    objective: Callable[[torch.Tensor], torch.Tensor],
    param: Parameterization,
    n: int,
    *,
    steps: int = 64,
    lr: float = 0.05,
    jitter: int = 0,
    scale: float = 0.0,
    seed: int = 0,
    device: Any = "cpu",
    dtype: torch.dtype = torch.float32,
    history: list[torch.Tensor] | None = None,
    theta0: torch.Tensor | None = None,
    on_step: Callable[[], Any] | None = None,
) -> torch.Tensor:
    """Optimise ``n`` inputs together; returns the final inputs ``(n, *shape)``.

    Parameters
    ----------
    objective : callable
        Maps a batch of inputs ``(n, *shape)`` to ``n`` objectives to maximise (row
        ``j`` must depend on input ``j`` alone).
    param : Parameterization
        How parameters become inputs.
    n : int
        Inputs optimised.
    steps, lr : int, float
        Adam's steps and learning rate (the paper: 64 and 0.05).
    jitter, scale : int, float
        Random transforms applied before each step (0: none).
    seed : int
        Seeds the starting parameters and the transforms.
    device, dtype
        Where and in which dtype the model runs.
    history : list, optional
        When given, receives each step's objectives (before that step's update).
    theta0 : torch.Tensor, optional
        Starting parameters (default: drawn from ``seed``).
    on_step : callable, optional
        Called after each step (e.g. a progress bar's update).

    Returns
    -------
    torch.Tensor
        The inputs after the last step, detached.
    """
    generator = torch.Generator().manual_seed(int(seed))
    theta = param.init(n, generator, torch.device(device)) if theta0 is None else theta0
    theta = theta.detach().clone().to(device).requires_grad_(True)
    lo, hi = param.lo.to(device), param.hi.to(device)
    param = Parameterization(param.kind, param.shape, lo, hi)
    opt = torch.optim.Adam([theta], lr=lr)
    for _ in range(int(steps)):
        x = _transform(param(theta), jitter, scale, generator).to(dtype)
        values = objective(x)
        if history is not None:
            history.append(values.detach().cpu())
        # The gradient of theta alone: backward() would also add the weights' gradients
        # into the .grad of the user's model (the traced module shares its parameters).
        (theta.grad,) = torch.autograd.grad(-values.sum(), theta)
        opt.step()
        if on_step is not None:
            on_step()
    with torch.no_grad():
        return param(theta).to(dtype).detach()


def entropy_bits(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits of the rows of ``p`` (probabilities)."""
    p = p.double().clamp_min(0)
    logs = torch.where(p > 0, torch.log2(p.clamp_min(1e-300)), torch.zeros_like(p))
    return -(p * logs).sum(dim=-1)
