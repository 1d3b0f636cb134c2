# Sourced by scripts/run and scripts/test: make .venv with the package (and test extras) installed.
# Installs Debian packages only when something is missing (needs root or sudo).
# usage: source scripts/setup.sh [--test] [debian-package ...]

_apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "$@" >/dev/null
}

_want_test=0
_missing=()
for _arg in "$@"; do
    case "$_arg" in
        --test) _want_test=1 ;;
        haproxy) command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || _missing+=(haproxy) ;;
        prometheus) command -v prometheus >/dev/null && command -v promtool >/dev/null || _missing+=(prometheus) ;;
        systemd) command -v systemd-socket-activate >/dev/null || _missing+=(systemd) ;;
        groff-base) command -v groff >/dev/null || _missing+=(groff-base) ;;
        chromium) command -v chromium >/dev/null || _missing+=(chromium) ;;
        *) _missing+=("$_arg") ;;
    esac
done
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    _missing+=(python3-venv)
fi
if [ ${#_missing[@]} -gt 0 ]; then
    echo "setup: installing ${_missing[*]} from the distribution" >&2
    _apt_install "${_missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
_stamp=".venv/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)-$_want_test"
if [ ! -e "$_stamp" ]; then
    _target="."
    [ "$_want_test" = 1 ] && _target=".[test]"
    echo "setup: installing the package into .venv (log: .venv/pip.log)" >&2
    if ! .venv/bin/python -m pip install -e "$_target" >.venv/pip.log 2>&1; then
        cat .venv/pip.log >&2
        echo "setup: pip install failed" >&2
        exit 1
    fi
    touch "$_stamp"
fi
