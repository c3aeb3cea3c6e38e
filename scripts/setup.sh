#!/usr/bin/env bash
# Sets up plantllm on a fresh machine (only Python 3.10+ and apt needed), idempotently.
#   bash scripts/setup.sh demo   # runtime + real demo data
#   bash scripts/setup.sh dev    # the above + pytest
# A second run with nothing changed returns in well under a second (stamp file).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-demo}"
VENV="${PLANTLLM_VENV:-.venv}"
PY="${PYTHON:-python3}"
quiet_pip() {  # pip's own warnings about local mirrors are noise for a user
  "$VENV/bin/python" -m pip "$@" --disable-pip-version-check -q 2> >(grep -v "is ignored: it is neither" >&2)
}

stamp="$VENV/.plantllm-setup-$EXTRAS"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && command -v bedtools >/dev/null; then
  exit 0
fi

if ! command -v bedtools >/dev/null; then
  echo "[setup] installing bedtools (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq bedtools >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
quiet_pip install --upgrade pip setuptools wheel

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  # On a machine without a GPU this resolves to the CPU build; on a GPU machine to the CUDA build.
  echo "[setup] installing torch"
  quiet_pip install "torch==2.13.0"
fi
if ! "$VENV/bin/python" -c "import deepspeed" 2>/dev/null; then
  # DeepSpeed's setup.py imports torch, so it must build against the installed torch.
  echo "[setup] installing deepspeed"
  quiet_pip install --no-build-isolation "deepspeed>=0.15"
fi
echo "[setup] installing plantllm[$EXTRAS]"
quiet_pip install -e ".[$EXTRAS]"
echo "$want" > "$stamp"
echo "[setup] done: $("$VENV/bin/plantllm" --version)"
