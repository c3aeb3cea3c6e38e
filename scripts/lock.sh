#!/usr/bin/env bash
# Rewrites requirements-lock.txt, the exact versions that scripts/setup.sh installs: plantllm's
# whole environment (runtime + every extra), frozen from a throw-away virtual environment set up
# the way scripts/setup.sh sets one up, but from pyproject.toml's ranges instead of the lock.
#   bash scripts/lock.sh                  # newest releases within pyproject.toml's ranges
#   TORCH=2.14.0 bash scripts/lock.sh     # move torch too (default: the locked torch, else 2.13.0)
# Then check the diff, run `bash scripts/setup.sh dev && .venv/bin/python -m pytest`, commit both.
#
# Why a plain `pip freeze` and not pip-compile (pip-tools) or `uv lock`/`uv pip compile`:
#  - torch comes first, alone: on a machine without a GPU `pip install torch==X` takes the CPU
#    wheel (here a local file that pip's find-links see and uv does not), on a GPU machine the
#    CUDA build. A resolver that locks torch with everything else locks one of the two builds, or
#    (uv, pip-compile from PyPI alone) several GB of CUDA packages that a CPU machine never needs.
#  - deepspeed is built against the installed torch (`--no-build-isolation`); a resolver that only
#    reads metadata cannot build it that way and would lock what a plain install cannot reproduce.
#  So the honest lock is a freeze of an environment installed the documented way: what is written
#  is exactly what was installed and passed `pip check`, nothing resolved on paper.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=requirements-lock.txt
PY="${PYTHON:-python3}"   # 3.11+ (reads pyproject.toml with tomllib)
TORCH="${TORCH:-$(sed -n 's/^torch==\([^+ ;]*\).*/\1/p' "$LOCK" 2>/dev/null || true)}"
TORCH="${TORCH:-2.13.0}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/plantllm-lock.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "[lock] throw-away environment in $tmp"
"$PY" -m venv "$tmp/venv"
V="$tmp/venv/bin/python"
pip() {  # pip's own warnings about local mirrors are noise
  "$V" -m pip "$@" --disable-pip-version-check -q 2> >(grep -v "is ignored: it is neither" >&2)
}
# What pyproject.toml asks for: the deepspeed range and the names of the extras.
read -r DEEPSPEED EXTRAS < <("$V" - <<'EOF'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
ds = next(d for d in p["dependencies"] if d.replace(" ", "").lower().startswith("deepspeed"))
print(ds.replace(" ", ""), ",".join(p.get("optional-dependencies", {})))
EOF
)
echo "torch==$TORCH" > "$tmp/torch.txt"   # keeps every later step from moving torch

pip install --upgrade pip setuptools wheel
echo "[lock] torch==$TORCH"
pip install -c "$tmp/torch.txt" "torch==$TORCH"
echo "[lock] $DEEPSPEED (built against that torch)"
pip install -c "$tmp/torch.txt" --no-build-isolation "$DEEPSPEED"
echo "[lock] plantllm[$EXTRAS] from pyproject.toml's ranges"
pip install -c "$tmp/torch.txt" --no-build-isolation -e ".[$EXTRAS]"
"$V" -m pip check --disable-pip-version-check

freeze="$("$V" -m pip freeze --all --exclude-editable --exclude plantllm --disable-pip-version-check | grep -v '^#')"
if grep -q ' @ ' <<<"$freeze"; then
  echo "[lock] error: installed from a URL or file, not pinnable by version:" >&2
  grep ' @ ' <<<"$freeze" >&2
  exit 1
fi
pyver="$("$V" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
platform="$("$V" -c 'import sysconfig; print(sysconfig.get_platform())')"
{
  cat <<EOF
# Exact versions of plantllm's whole environment (runtime + extras $EXTRAS), installed by
# scripts/setup.sh. Do not edit by hand: refresh with \`bash scripts/lock.sh\`, which sets up a
# throw-away venv the way setup.sh does, from pyproject.toml's ranges, and writes its
# \`pip freeze --all\` here (plantllm itself left out). Plain pip freeze, not pip-compile or uv:
# torch is installed first and alone (CPU wheel without a GPU, CUDA build with one; uv does not
# see the local CPU wheel) and deepspeed is built against it with --no-build-isolation, which a
# metadata-only resolver cannot reproduce; see scripts/lock.sh. torch is written without its
# local label (+cpu) so that the same line takes the CPU wheel here and the CUDA build on a GPU.
# python: $pyver
# platform: $platform
# made: $(date -u +%Y-%m-%d)
EOF
  sed -E 's/^(torch==[^+]+)\+[^ ;]*/\1/' <<<"$freeze"
} > "$LOCK.tmp"
mv "$LOCK.tmp" "$LOCK"
echo "[lock] wrote $LOCK: $(grep -vc '^#' "$LOCK") packages (Python $pyver, $platform)"
