#!/usr/bin/env bash
# Installs offline speaker diarization (resemblyzer's voice encoder on CPU torch) into the virtual environment VENV.
#
#   scripts/install-diarize.sh [VENV]    (default .venv)
#
# This script, not `pip install '.[diarize]'`, is the installer: resemblyzer pins `webrtcvad`, which does not build,
# so it goes in with --no-deps after its real dependencies (`webrtcvad-wheels` provides the same `webrtcvad` module).
# torch is pinned to an exact version because a plain `torch` or a range pulls the multi-GB CUDA build.
set -euo pipefail

VENV=${1:-.venv}
PY=$VENV/bin/python
TORCH_VERSION=2.13.0

log() { echo "install-diarize: $*" >&2; }

if [[ ! -x $PY ]]; then
    log "error: no Python at $PY (create the venv first, e.g. scripts/ensure-venv.sh $VENV)"
    exit 1
fi

if "$PY" -c 'import resemblyzer, torch' 2>/dev/null; then
    exit 0
fi

pip_install() {
    "$PY" -m pip install --quiet --disable-pip-version-check "$@"
}

log "installing torch==$TORCH_VERSION (CPU), webrtcvad-wheels, librosa, scikit-learn into $VENV"
pip_install "torch==$TORCH_VERSION" webrtcvad-wheels librosa scikit-learn
log "installing resemblyzer (--no-deps: its pinned webrtcvad does not build)"
pip_install --no-deps resemblyzer

"$PY" -c 'import resemblyzer, torch' >/dev/null
log "done: $("$PY" -c 'import torch; print("torch", torch.__version__)')"
