#!/usr/bin/env bash
# Makes sure the programs voxhub runs are installed: `ensure-programs.sh ffmpeg:ffmpeg redis-server:redis-server`
# (each argument is PROGRAM:DEBIAN_PACKAGE; PROGRAM is a command, or an absolute path the package installs). Installs
# the missing ones with apt-get when it can, else says what to run.
set -euo pipefail

missing_programs=()
missing_packages=()
for pair in "$@"; do
    program=${pair%%:*}
    package=${pair#*:}
    # a PROGRAM starting with / is a file a data package installs (an Apertium language pair's mode)
    if [[ $program == /* && ! -e $program ]] || [[ $program != /* ]] && ! command -v "$program" >/dev/null 2>&1; then
        missing_programs+=("$program")
        missing_packages+=("$package")
    fi
done
[[ ${#missing_packages[@]} -eq 0 ]] && exit 0

if command -v apt-get >/dev/null 2>&1; then
    sudo=()
    if [[ $(id -u) != 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "voxhub needs ${missing_programs[*]}. Install them with: sudo apt-get install ${missing_packages[*]}" >&2
            exit 1
        fi
    fi
    echo "installing ${missing_packages[*]} (for ${missing_programs[*]}) with apt-get" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
else
    echo "voxhub needs ${missing_programs[*]} (Debian/Ubuntu packages: ${missing_packages[*]}); install them with your" \
         "system's package manager (e.g. 'brew install ffmpeg redis' on macOS)." >&2
    exit 1
fi
