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

log() { printf '[bootstrap] %s\n' "$*"; }

build_mmcv_wheel() {
  local work
  work=$(mktemp -d)
  log "building mmcv $MMCV_VERSION with compiled ops (once; 10-25 min on 2 cores) in $work"
  "$VENV/bin/pip" download --no-deps --no-binary :all: --no-build-isolation \
    -d "$work" "mmcv==$MMCV_VERSION"
  tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} FORCE_CUDA=0 \
    "$VENV/bin/pip" wheel --no-deps --no-build-isolation -w "$work/dist" "$work/mmcv-$MMCV_VERSION"
  mkdir -p "$CACHE"
  # Rename into place so an interrupted build never leaves a wheel that looks finished.
  local wheel
  wheel=$(ls "$work"/dist/mmcv-"$MMCV_VERSION"-*.whl)
  cp "$wheel" "$CACHE/.$(basename "$wheel").part"
  mv "$CACHE/.$(basename "$wheel").part" "$CACHE/$(basename "$wheel")"
  rm -rf "$work"
}

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip wheel
"$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
# torch pulls a setuptools without pkg_resources, which mmcv's build and mmengine need.
"$VENV/bin/pip" install -q "setuptools<70" ninja "numpy<2.3" addict yapf termcolor rich pyyaml matplotlib \
  opencv-python-headless==4.11.0.86
# mmengine and mmcv ask for opencv-python (needs libGL); the headless build above serves them.
"$VENV/bin/pip" install -q --no-deps mmengine==0.10.7

if ! ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  build_mmcv_wheel
fi
"$VENV/bin/pip" install -q --no-deps "$(ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)"
"$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"
"$VENV/bin/pip" install -q --no-deps -e "$ROOT"
"$VENV/bin/python" -c "import mmcv.ops, mmseg, mmdet; print('mmcv', mmcv.__version__, 'ops ok')"
log "environment ready in $VENV"
