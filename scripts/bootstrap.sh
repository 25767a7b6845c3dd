#!/usr/bin/env bash
# Create the project-local virtual environment with PyTorch, OpenMMLab and the workflow tools.
# mmcv 2.1.0 has no PyPI wheel with compiled ops: it is built once from its sdist into a wheel cache
# outside the checkout (REALITYGAP_WHEEL_CACHE, default ~/.cache/realitygap/wheels) that later
# environments and fresh clones reuse.
set -euo pipefail

VENV=${1:-.venv}
PY=${PYTHON:-python3}
CACHE=${REALITYGAP_WHEEL_CACHE:-$HOME/.cache/realitygap/wheels}
MMCV_VERSION=2.1.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)

START=$SECONDS
log() { printf '[bootstrap %4ds] %s\n' "$((SECONDS - START))" "$*"; }

build_mmcv_wheel() {
  local work
  work=$(mktemp -d)
  log "building mmcv $MMCV_VERSION with compiled ops (once; 10 min on 2 cores alone, 2026-11-28) in $work"
  pipq download --no-deps --no-binary :all: --no-build-isolation \
    -d "$work" "mmcv==$MMCV_VERSION"
  tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} FORCE_CUDA=0 \
    pipq wheel --no-deps --no-build-isolation -w "$work/dist" "$work/mmcv-$MMCV_VERSION"
  mkdir -p "$CACHE"
  # Rename into place so an interrupted build never leaves a wheel that looks finished.
  local wheel
  wheel=$(ls "$work"/dist/mmcv-"$MMCV_VERSION"-*.whl)
  cp "$wheel" "$CACHE/.$(basename "$wheel").part"
  mv "$CACHE/.$(basename "$wheel").part" "$CACHE/$(basename "$wheel")"
  rm -rf "$work"
}

pipq() { "$VENV/bin/pip" "$@" 2> >(grep -v 'is ignored: it is neither' >&2); }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
pipq install -q --upgrade pip wheel
# pydensecrf2 has no wheel on PyPI: its Cython build is timed on its own line (pip's cache keeps the wheel).
log "building pydensecrf2 from its sdist"
LOCAL_WHEELS=$(mktemp -d)
pipq wheel -q --no-deps -w "$LOCAL_WHEELS" "$(grep -oE '^pydensecrf2==[^ ]+' "$ROOT/requirements.txt")"
log "pip and the pinned requirements (resolution, downloads, installs)"
pipq install -q --find-links "$LOCAL_WHEELS" -r "$ROOT/requirements.txt"
rm -rf "$LOCAL_WHEELS"
log "requirements installed"
# torch pulls a setuptools without pkg_resources, which mmcv's build and mmengine need.
pipq install -q --no-deps "setuptools<70" ninja
# mmengine and mmcv ask for opencv-python (needs libGL); requirements.txt's headless build serves them.
pipq install -q --no-deps mmengine==0.10.7

if ! ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  build_mmcv_wheel
fi
log "installing the cached mmcv wheel"
pipq install -q --no-deps --force-reinstall "$(ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)"
pipq install -q --no-deps -e "$ROOT"
"$VENV/bin/python" -c "import mmcv.ops, mmseg, mmdet, torch; print('torch', torch.__version__, 'mmcv', mmcv.__version__, 'ops ok')"
log "environment ready in $VENV"
