# Shared by scripts/demo and scripts/test: install what the project needs on a fresh
# Debian machine. Sourced, not run.

# as_root CMD...: run CMD as root (directly, or through sudo when available).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: need root to run: $*" >&2
        return 1
    fi
}

# ensure_packages BINARY:PACKAGE...: apt-get install the packages whose binary is missing.
ensure_packages() {
    local missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # The package may start a system memcached on 11211; the tests start their own and
    # never use that one, so leave it be.
}

# ensure_python_modules MODULE:PACKAGE...: apt-get install the Debian packages whose
# module Debian's own python3 cannot import (a pyenv or venv python3 earlier in PATH
# does not count: the tests run /usr/bin/python3).
ensure_python_modules() {
    local missing=()
    for pair in "$@"; do
        /usr/bin/python3 -c "import ${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo is not installed (https://rustup.rs)" >&2
        exit 1
    fi
}
