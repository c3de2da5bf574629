"""Which architectures weight_graph reads, and the memory it peaks at (issue 10).

Run: ``python benchmarks/bench_architectures.py [--quick] [--markdown]``

Every network is built in code with random weights (no download) and its weight graph
built in a fresh process. Per network: works or refused (with the reason), units,
edges, seconds, the peak memory the call needed (Linux's resident high-water mark, reset
with ``/proc/self/clear_refs`` once the model is built, so the model's own memory is
not counted) and that peak against the bytes of the final graph (CSR ``data``,
``indices`` and ``indptr``). Target: a peak of at most 1.5x the final graph.

``--markdown`` prints the table as Markdown for ``docs/weight-graph.md``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_results  # noqa: E402


def _hwm_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _models(quick: bool) -> dict:
    import torch
    import torch.nn as nn

    from nngraph import models as M

    class Transformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)

        def forward(self, x):
            return self.block(x)

    class ConvNeXtBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dw = nn.Conv2d(16, 16, 7, padding=3, groups=16)
            self.norm = nn.LayerNorm(16)
            self.pw1 = nn.Linear(16, 64)
            self.pw2 = nn.Linear(64, 16)

        def forward(self, x):
            h = self.norm(self.dw(x).permute(0, 2, 3, 1))
            return x + self.pw2(torch.nn.functional.gelu(self.pw1(h))).permute(0, 3, 1, 2)

    class LSTMNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(8, 16, batch_first=True)
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    big = 64 if quick else 224
    return {
        "mlp (bundled)": (lambda: M.mlp(), (1, 64), {}),
        "small_cnn (bundled)": (lambda: M.small_cnn(), (1, 1, 8, 8), {}),
        "vgg11 (bundled, CIFAR)": (lambda: M.vgg("vgg11"), (1, 3, 32, 32), {}),
        "vgg16 (CIFAR)": (lambda: M.vgg("vgg16"), (1, 3, 32, 32), {}),
        f"resnet18 (bundled, {big}x{big})": (lambda: M.resnet18(), (1, 3, big, big), {}),
        f"resnet50 bottleneck ({big}x{big})": (
            lambda: M.resnet50(width=32 if quick else 64),
            (1, 3, big, big),
            {},
        ),
        "inverted residual (MobileNetV2-like)": (
            lambda: M.inverted_residual_net(width=32),
            (1, 3, 64, 64),
            {},
        ),
        "DenseNet block": (lambda: M.densenet(growth=32, n_layers=6), (1, 3, 32, 32), {}),
        "Fire modules (SqueezeNet-like)": (lambda: M.fire_net(), (1, 3, 64, 64), {}),
        "channel shuffle (ShuffleNetV2-like)": (
            lambda: M.channel_shuffle_net(channels=64),
            (1, 3, 32, 32),
            {},
        ),
        "squeeze-and-excitation": (lambda: M.se_net(channels=64), (1, 3, 32, 32), {}),
        "squeeze-and-excitation, gating='ignore'": (
            lambda: M.se_net(channels=64),
            (1, 3, 32, 32),
            {"gating": "ignore"},
        ),
        "U-Net upsampling": (lambda: M.unet(channels=32), (1, 3, 64, 64), {}),
        "ConvNeXt block (LayerNorm)": (ConvNeXtBlock, (1, 16, 14, 14), {}),
        "transformer encoder layer": (Transformer, (1, 10, 32), {}),
        "LSTM": (LSTMNet, (1, 5, 8), {}),
    }


def _case(name: str, quick: bool, conn) -> None:
    import torch

    import nngraph as ng

    builder, shape, options = _models(quick)[name]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = builder().eval()
    x = torch.zeros(shape)
    # Warm up: imports, tracing code and every writer kernel specialisation (float32
    # views of Linear weights, float64 reductions of convolutions).
    warm = torch.nn.Sequential(
        torch.nn.Conv2d(2, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(), torch.nn.Linear(2, 2)
    )
    ng.weight_graph(warm.eval(), torch.zeros(1, 2, 3, 3))
    measured = _reset_peak()
    before = _hwm_kib()
    t0 = time.perf_counter()
    try:
        g = ng.weight_graph(model, x, **options)
    except Exception as exc:  # refused: report the reason
        conn.send({"status": "refused", "reason": f"{type(exc).__name__}: {exc}"})
        return
    seconds = time.perf_counter() - t0
    peak = (_hwm_kib() - before) / 1024 if measured else float("nan")
    a = g.adjacency
    final = (a.data.nbytes + a.indices.nbytes + a.indptr.nbytes) / 2**20
    conn.send(
        {
            "status": "works",
            "units": g.n_nodes,
            "edges": g.n_edges,
            "seconds": seconds,
            "peak_mib": peak,
            "graph_mib": final,
            "peak/graph": peak / final if final else float("nan"),
        }
    )


def run(name: str, quick: bool) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_case, args=(name, quick, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return {"network": name, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs and widths")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = [run(name, args.quick) for name in _models(args.quick)]
    columns = [
        "network",
        "status",
        "units",
        "edges",
        "seconds",
        "peak_mib",
        "graph_mib",
        "peak/graph",
    ]
    print(table(rows, columns))
    for r in rows:
        if r["status"] == "refused":
            print(f"- {r['network']}: {r['reason'][:300]}")
    ratios = [r["peak/graph"] for r in rows if r["status"] == "works" and r["graph_mib"] > 50]
    if ratios:
        worst = max(ratios)
        verdict = "met" if worst <= 1.5 else "MISSED"
        print(f"\nworst peak/graph over graphs above 50 MiB: {worst:.2f} (target 1.5: {verdict})")
    if args.markdown:
        print(
            "\n| network | works | units | edges | seconds | peak MiB | graph MiB | peak / graph |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            if r["status"] == "works":
                print(
                    f"| {r['network']} | yes | {r['units']:,} | {r['edges']:,} | "
                    f"{r['seconds']:.3f} | {r['peak_mib']:.1f} | {r['graph_mib']:.1f} | "
                    f"{r['peak/graph']:.2f} |"
                )
            else:
                reason = r["reason"].split(": ", 1)[-1].split(";")[0]
                print(f"| {r['network']} | refused: {reason} | | | | | | |")
    path = write_results("architectures", {"quick": args.quick, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
