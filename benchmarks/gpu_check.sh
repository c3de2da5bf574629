#!/usr/bin/env bash
# The GPU checks, in one short run on a device machine (see docs/benchmarks.md):
# importance and coherence on the GPU against the CPU, and the streaming activation
# statistics on the GPU. Writes its logs to $OUT (or ./gpu-check).
set -u
out="${OUT:-gpu-check}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 NNGRAPH_CACHE_DIR=/tmp/nngraph-cache
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" 2>&1 | tee "$out/env.log"
for script in bench_importance bench_coherence; do
  timeout 240 python3 "benchmarks/$script.py" --device cuda 2>&1 | tee "$out/$script.log"
done
if [ -f benchmarks/bench_activation_gpu.py ]; then
  timeout 120 python3 benchmarks/bench_activation_gpu.py 2>&1 | tee "$out/bench_activation_gpu.log"
fi
