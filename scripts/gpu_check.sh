#!/usr/bin/env bash
# GPU check for the SGLang runtime: run on a GPU machine from anywhere in the repository.
#
#   scripts/gpu_check.sh [MODEL_PATH] [--calls 20] [--concurrency 4] ...
#   scripts/gpu_check.sh [MODEL_PATH] --router 2     # two workers behind sglang-router
#
# The GPU machine has no network, so whatever is missing must have been carried in a wheel folder
# ($WHEELS, default .wheels), e.g. prepared on a matching platform and Python with
#   pip download -d .wheels sglang sglang-router . setuptools
# The model is a local Hugging Face folder (default models/SmolLM2-135M-Instruct). Output ends
# with one JSON line: {"check": "gpu", "tokens_per_s": ..., "calls": ..., "errors": ...}; with
# --router N, N SGLang workers share the GPU behind sglang-router, the calls go through a tier
# connected to the router, and the line adds "router": N and "per_worker": [calls, ...].
# Exit codes: 0 ok, 1 some calls failed, 2 the server did not start, 3 something is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-.wheels}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

has() { "$PYTHON" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }

offline_install() {
  if [ ! -d "$WHEELS" ]; then
    echo "gpu_check: $1 is missing and there is no wheel folder $WHEELS to install it from" \
      "(there is no network here). Carry the wheels in: pip download -d $WHEELS $2" >&2
    exit 3
  fi
  echo "gpu_check: installing $2 from $WHEELS" >&2
  PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install --no-index --find-links "$WHEELS" $2 \
    || { echo "gpu_check: offline install of $2 failed (see above)" >&2; exit 3; }
}

if ! has sglang; then
  offline_install sglang sglang
fi
case " $* " in
  *" --router "* | *" --router="*)
    if ! has sglang_router; then
      offline_install sglang-router sglang-router
    fi
    ;;
esac
if ! "$PYTHON" -c "import httpx, yaml, stepladder.runtimes.sglang" >/dev/null 2>&1; then
  offline_install "stepladder's dependencies" "-e ."
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PYTHON" -c "import sglang, torch; print('sglang', sglang.__version__, 'torch', torch.__version__)" \
  || true
exec "$PYTHON" scripts/gpu_check.py "$@"
