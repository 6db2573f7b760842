#!/usr/bin/env bash
# The GPU check in one command, within 8 minutes: CUDA tests, training and sampling windows/s at
# the default and the paper's size in fp32 / TF32 / bf16-features, written to
# benchmarks/results/gpu.md (see benchmarks/gpu_check.py for what is measured).
#
#   benchmarks/gpu_check.sh              # on a CUDA machine
#   benchmarks/gpu_check.sh --dry-run    # on a CPU: tiny sizes, a few seconds, writes to a temp folder
#
# PYTHON selects the interpreter (default .venv/bin/python, else python3); it needs a torch with CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
args=("$@")
if [[ " $* " == *" --dry-run "* && " $* " != *" --out "* ]]; then
  args+=(--out "$(mktemp -d)")
fi
exec timeout 480 "$PYTHON" benchmarks/gpu_check.py "${args[@]}"
