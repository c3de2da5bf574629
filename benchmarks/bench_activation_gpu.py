"""Benchmark the activation statistics on a GPU against the CPU path (issue 15, item 5).

Run: ``python benchmarks/bench_activation_gpu.py [--quick]`` (on a machine with a CUDA
GPU; elsewhere it says so and exits 0).

The dense Pearson statistics behind ``activation_graph`` (forward passes, the float64
streaming co-moments and the correlation matrix: ``unit_correlations``) of two float32
networks over random inputs, three ways side by side in one run:

- ``cpu``: the model on the CPU (the CPU path);
- ``cuda, host stats``: the model on the GPU, its activations copied to the host for the
  statistics (what a GPU model got before issue 15);
- ``cuda``: the model on the GPU, the statistics accumulated there in float64.

Networks: an MLP 784-2048-2048-2048-2048-10 (8,202 units) over 20,000 inputs, and a
small CNN (3x32x32 inputs, 64-128-256 channels with batch norm, 458 units) over 5,000.
Default ``batch_size`` (256); torch's default precision settings. Times are single runs
after a warm-up of CUDA.

Checks: the float32 runs report their largest correlation difference (float32 forward
passes round differently on the two devices; cuDNN's convolutions use TF32). The
statistics themselves are checked on float64 copies of both networks (2,000 and 500
inputs), whose forward passes agree to float64 rounding: the correlations of the
``cuda`` path must equal the CPU path's to 1e-10. A table goes to the screen and JSON to
``benchmarks/results/activation_gpu.json`` (and ``$OUT`` when set). Needs torch, numpy
and scipy only (no numba, scikit-learn, igraph or pynndescent). ``--quick`` shrinks the
data four-fold; ``--device cpu`` runs the same steps with the device path forced on the
CPU (to check the script on a machine without a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import table, write_results  # noqa: E402


def _mlp(torch):
    nn = torch.nn
    sizes = [784, 2048, 2048, 2048, 2048, 10]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _cnn(torch):
    nn = torch.nn

    def block(a, b, pool):
        return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), pool]

    return nn.Sequential(
        *block(3, 64, nn.MaxPool2d(2)),
        *block(64, 128, nn.MaxPool2d(2)),
        *block(128, 256, nn.AdaptiveAvgPool2d(1)),
        nn.Flatten(),
        nn.Linear(256, 10),
    )


def _case(torch, name, build, shape, n_examples, n_check, device):
    """Time the three paths on the float32 network, check the float64 one."""
    import nngraph.graphs._recording as recording
    from nngraph.graphs._activation_graph import unit_correlations

    torch.manual_seed(0)
    model = build(torch).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((n_examples, *shape), generator=gen)
    on_device = recording.statistics_on_device

    def timed(where, stats_on_device):
        recording.statistics_on_device = lambda d: stats_on_device
        try:
            model.to(where)
            t0 = time.perf_counter()
            corr, dead = unit_correlations(model, x)
            return time.perf_counter() - t0, corr, dead
        finally:
            recording.statistics_on_device = on_device

    forced = device == "cpu"  # no GPU: the device path on CPU tensors
    t_cpu, c_cpu, d_cpu = timed("cpu", False)
    t_host, c_host, _ = timed(device, False)
    del c_host
    t_dev, c_dev, d_dev = timed(device, True)
    diff32 = float(np.abs(c_dev - c_cpu).max())
    del c_dev, c_cpu

    # The statistics, on float64 copies: identical forward passes up to float64 rounding.
    model64 = model.double()
    x64 = x[:n_check].double()
    recording.statistics_on_device = lambda d: False
    try:
        ref, dead_ref = unit_correlations(model64.to("cpu"), x64)
    finally:
        recording.statistics_on_device = on_device
    if forced:
        recording.statistics_on_device = lambda d: True
    try:
        got, dead_got = unit_correlations(model64.to(device), x64)
    finally:
        recording.statistics_on_device = on_device
    diff64 = float(np.abs(got - ref).max())
    assert np.array_equal(dead_got, dead_ref), f"{name}: dead units differ"
    assert diff64 <= 1e-10, f"{name}: float64 correlations differ by {diff64:.3g} > 1e-10"
    model.to("cpu")
    return {
        "network": name,
        "units": int(d_cpu.size),
        "examples": n_examples,
        "cpu_s": t_cpu,
        "cuda_host_stats_s": t_host,
        "cuda_s": t_dev,
        "speedup_vs_cpu": t_cpu / t_dev,
        "speedup_vs_host_stats": t_host / t_dev,
        "max_abs_diff_float32": diff32,
        "max_abs_diff_float64": diff64,
        "dead_units": int(d_dev.sum()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu to dry-run")
    args = parser.parse_args()
    import torch

    if args.device != "cpu" and not torch.cuda.is_available():
        print("no CUDA GPU here (torch.cuda.is_available() is False): nothing to measure")
        return 0
    scale = 4 if args.quick else 1
    device = args.device
    if device != "cpu":
        from nngraph.graphs._activation_graph import unit_correlations

        warm = _mlp(torch)[:3].to(device)  # CUDA context, cuBLAS and cuDNN handles
        unit_correlations(warm, torch.randn(600, 784))
        name = torch.cuda.get_device_name(0)
    else:
        name = "cpu (device path forced)"
    t0 = time.perf_counter()
    rows = [
        _case(torch, "mlp 784-2048x4-10", _mlp, (784,), 20_000 // scale, 2_000 // scale, device),
        _case(torch, "cnn 64-128-256", _cnn, (3, 32, 32), 5_000 // scale, 500 // scale, device),
    ]
    columns = [
        "network",
        "units",
        "examples",
        "cpu_s",
        "cuda_host_stats_s",
        "cuda_s",
        "speedup_vs_cpu",
        "speedup_vs_host_stats",
        "max_abs_diff_float32",
        "max_abs_diff_float64",
    ]
    print(f"device: {name}; torch {torch.__version__}; {os.cpu_count()} CPU cores")
    print(table(rows, columns))
    print("float64 correlations of the cuda path equal the CPU path's to <= 1e-10: ok")
    print(f"total {time.perf_counter() - t0:.1f} s")
    payload = {"device": name, "torch": torch.__version__, "quick": args.quick, "cases": rows}
    path = write_results("activation_gpu" + ("_quick" if args.quick else ""), payload)
    print(f"results: {path}")
    out = os.environ.get("OUT")
    if out and Path(out).is_dir():
        (Path(out) / path.name).write_text(json.dumps(payload, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
