#!/bin/sh
# Install ccb from this folder into a virtual environment of its own, link the `ccb` command into
# ~/.local/bin, then start `ccb launch` (arguments are passed on; CCB_NO_LAUNCH=1 only installs).
#
# Works where `pip install` into the system Python is refused (PEP 668: Debian, Ubuntu, Homebrew, Fedora):
# nothing is installed outside the environment. Needs Python 3.11 or newer (set PYTHON=/path/to/python3
# to pick one). On Debian and Ubuntu without the python3-venv package the environment is made without
# ensurepip and pip comes from the system's pip, its wheel, or bootstrap.pypa.io.
set -eu

src=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
venv=${CCB_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/ccb/venv}
bindir=${CCB_BIN_DIR:-$HOME/.local/bin}

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$py" >/dev/null 2>&1 || die "$py not found: install Python 3.11 or newer (or set PYTHON=/path/to/python3)"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "ccb needs Python 3.11 or newer; $py is $("$py" -V 2>&1). Set PYTHON=/path/to/python3.11"

say "Installing ccb into $venv"
if ! "$py" -m venv --clear "$venv" >/dev/null 2>&1; then
    # Debian/Ubuntu ship venv without ensurepip unless python3-venv is installed: make it bare, add pip.
    "$py" -m venv --clear --without-pip "$venv" || die "could not create a virtual environment at $venv"
    wheel=$(ls /usr/share/python-wheels/pip-*.whl 2>/dev/null | tail -n 1 || true)
    if [ -n "$wheel" ]; then
        "$venv/bin/python" "$wheel/pip" install -q "$wheel" || die "could not install pip from $wheel"
    elif "$py" -m pip --version >/dev/null 2>&1 \
        && "$py" -m pip --python "$venv/bin/python" install -q pip >/dev/null 2>&1; then
        :
    else
        say "Fetching pip from https://bootstrap.pypa.io (this Python has neither ensurepip nor pip)"
        "$venv/bin/python" - <<'EOF' || die "could not fetch pip; install python3-venv (Debian/Ubuntu) and rerun"
import os, tempfile, urllib.request, runpy, sys
path = os.path.join(tempfile.mkdtemp(), "pip.pyz")
urllib.request.urlretrieve("https://bootstrap.pypa.io/pip/pip.pyz", path)
sys.argv = ["pip", "install", "-q", "pip"]
runpy.run_path(path, run_name="__main__")
EOF
    fi
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$src" || die "pip could not install ccb from $src"

mkdir -p "$bindir"
ln -sf "$venv/bin/ccb" "$bindir/ccb"
case ":$PATH:" in
    *":$bindir:"*) say "Installed: $bindir/ccb" ;;
    *) say "Installed: $bindir/ccb ($bindir is not on your PATH: add it, e.g. export PATH=\"$bindir:\$PATH\")" ;;
esac

[ "${CCB_NO_LAUNCH:-}" = "1" ] && exit 0
exec "$venv/bin/ccb" launch "$@"
