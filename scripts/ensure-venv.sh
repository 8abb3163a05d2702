#!/usr/bin/env bash
# Creates the virtual environment VENV (default .venv) with PYTHON (default python3), installing python3-venv first when needed.
set -euo pipefail

VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}

if [[ -x $VENV/bin/python ]]; then
    exit 0
fi

log() { echo "ensure-venv: $*" >&2; }

apt_install() {
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing $* with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        log "error: please install $* (e.g. 'sudo apt-get install $*') and run this again"
        exit 1
    fi
}

if ! command -v "$PYTHON" >/dev/null; then
    apt_install python3 python3-venv
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "error: voxhub needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." \
        "Install a newer Python and run: make PYTHON=python3.12 ..."
    exit 1
fi

# Debian and Ubuntu ship venv's pip bootstrap (ensurepip) separately, in python3-venv (python3.X-venv).
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install "python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
    fi
fi

log "creating $VENV with $("$PYTHON" --version)"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
