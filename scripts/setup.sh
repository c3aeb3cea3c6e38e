#!/usr/bin/env bash
# Sets up plantllm on a fresh machine (only Python 3.10+ and apt needed), idempotently, with the
# exact versions of requirements-lock.txt (refresh that with: bash scripts/lock.sh).
#   bash scripts/setup.sh demo   # runtime + real demo data
#   bash scripts/setup.sh dev    # the above + pytest
# The lock is one environment (runtime + every extra), so each extra installs all of it; the
# extra's name is kept for the README's commands. A second run with nothing changed returns in
# well under a second (stamp file).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-demo}"
VENV="${PLANTLLM_VENV:-.venv}"
PY="${PYTHON:-python3}"
LOCK=requirements-lock.txt
quiet_pip() {  # pip's own warnings about local mirrors are noise for a user
  "$VENV/bin/python" -m pip "$@" --disable-pip-version-check -q 2> >(grep -v "is ignored: it is neither" >&2)
}
locked() {  # the locked version of package $1 (torch is locked without a local label)
  local v; v="$(sed -n "s/^$1==\([^ ;]*\).*/\1/p" "$LOCK")"
  [ -n "$v" ] || { echo "[setup] error: $1 is not in $LOCK (refresh it: bash scripts/lock.sh)" >&2; exit 1; }
  echo "$v"
}

[ -f "$LOCK" ] || { echo "[setup] error: $LOCK is missing (make it: bash scripts/lock.sh)" >&2; exit 1; }
stamp="$VENV/.plantllm-setup"
want="$(cat pyproject.toml "$LOCK" scripts/setup.sh | sha256sum | cut -c1-16)"
have_tools() {  # bedtools; SnpEff, SnpSift (Debian names it snpSift), bcftools, tabix for variant annotation;
  # a C compiler and zlib's headers: mappy (minimap2) is published on PyPI as source only
  command -v gcc >/dev/null && [ -f /usr/include/zlib.h ] && command -v bedtools >/dev/null && command -v snpEff >/dev/null && command -v bcftools >/dev/null \
    && command -v tabix >/dev/null && { command -v SnpSift >/dev/null || command -v snpSift >/dev/null; }
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && have_tools; then
  exit 0
fi
rm -f "$stamp"  # until this run has finished

if ! have_tools; then
  echo "[setup] installing bedtools snpeff snpsift bcftools tabix gcc zlib1g-dev (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq bedtools snpeff snpsift bcftools tabix gcc zlib1g-dev >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
have="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
for_py="$(sed -n 's/^# python: *//p' "$LOCK")"
if [ -n "$for_py" ] && [ "$have" != "$for_py" ]; then
  echo "[setup] warning: $LOCK was made with Python $for_py and this is Python $have; if a locked" >&2
  echo "        version has no build for it, use PYTHON=python$for_py or refresh the lock: bash scripts/lock.sh" >&2
fi
pip_v="$(locked pip)"; setuptools_v="$(locked setuptools)"; wheel_v="$(locked wheel)"
torch_v="$(locked torch)"; deepspeed_v="$(locked deepspeed)"
quiet_pip install "pip==$pip_v" "setuptools==$setuptools_v" "wheel==$wheel_v"

# torch first and alone: without a GPU this version resolves to the CPU build, on a GPU machine to
# the CUDA build (its CUDA libraries come pinned by torch itself); the rest of its needs from the lock.
echo "[setup] installing torch $torch_v"
quiet_pip install -c "$LOCK" "torch==$torch_v"
# DeepSpeed's setup.py imports torch, so it must build against the installed torch.
echo "[setup] installing deepspeed $deepspeed_v"
quiet_pip install -c "$LOCK" --no-build-isolation "deepspeed==$deepspeed_v"
# Then exactly the lock, resolving nothing, and plantllm itself (built with the locked setuptools).
echo "[setup] installing the locked environment and plantllm[$EXTRAS]"
quiet_pip install --no-deps -r "$LOCK"
# (setuptools' notes about editable installs are noise: shown only if the install fails)
if ! out="$(quiet_pip install --no-deps --no-build-isolation -e ".[$EXTRAS]" 2>&1)"; then
  echo "$out" >&2; exit 1
fi
"$VENV/bin/python" -m pip check --disable-pip-version-check >/dev/null || {
  "$VENV/bin/python" -m pip check --disable-pip-version-check >&2 || true
  echo "[setup] error: $LOCK does not satisfy pyproject.toml (refresh it: bash scripts/lock.sh)" >&2
  exit 1
}
echo "$want" > "$stamp"
echo "[setup] done: $("$VENV/bin/plantllm" --version)"
