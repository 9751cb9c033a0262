# Helpers shared by scripts/test.sh and scripts/demo.sh. Source it; do not run it.
#
#   resolve_python NAME_OR_PATH   -> prints the absolute path of a working interpreter
#   ensure_venv DIR PYTHON PIP_ARGS...
#       creates the virtualenv DIR with PYTHON if missing (or broken) and runs
#       `pip install PIP_ARGS...` in it, but only when pyproject.toml, PIP_ARGS or the
#       interpreter changed since the last successful install (a stamp file in DIR).

# Print the absolute path of a Python interpreter that actually runs.
# pyenv installs shims for every version it knows (python3.12 ...), which fail when that
# version is not selected; fall back to the pyenv installation that provides the name.
resolve_python() {
    local name=$1 path version
    if path=$("$name" -c 'import sys; print(sys.executable)' 2>/dev/null); then
        printf '%s\n' "$path"
        return 0
    fi
    if [[ $name != */* ]] && command -v pyenv >/dev/null 2>&1; then
        for version in $(pyenv whence "$name" 2>/dev/null | sort -rV); do
            path="$(pyenv prefix "$version")/bin/$name"
            if "$path" -c 'import sys' 2>/dev/null; then
                printf '%s\n' "$path"
                return 0
            fi
        done
    fi
    echo "error: no working Python interpreter '$name' (set PYTHON to one)" >&2
    return 1
}

ensure_venv() {
    local venv=$1 python=$2
    shift 2
    local stamp="$venv/.install-stamp" want
    want=$(
        {
            "$python" -c 'import sys; print(sys.version)'
            printf '%s\n' "$@"
            cat pyproject.toml
        } | sha256sum | cut -d' ' -f1
    )

    mkdir -p "$(dirname "$venv")"
    # One installer at a time per venv (two test runs started together).
    exec {lock_fd}>"$venv.lock"
    flock "$lock_fd"

    if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        echo ">>> creating virtualenv $venv with $python"
        rm -rf "$venv"
        "$python" -m venv "$venv"
    fi
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        echo ">>> installing into $venv: $*"
        rm -f "$stamp"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
        printf '%s\n' "$want" >"$stamp"
    fi

    flock -u "$lock_fd"
    exec {lock_fd}>&-
}
