#!/usr/bin/env bash
# Create the virtual environment and install scandepot with its test tools.
# Installs the Debian packages it needs when they are absent (run as root on Debian).
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}

apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "bootstrap: $* missing and no apt-get to install it" >&2
        exit 1
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "bootstrap: scandepot needs Python 3.11 or newer as '$python'" >&2
    exit 1
fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[test]'
# The image viewer (OHIF, prebuilt) where scandepot looks for it by default.
PYTHON="$python" "$(dirname "$0")/fetch-viewer.sh" "$venv/share/scandepot/ohif"
