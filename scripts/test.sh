#!/usr/bin/env bash
# The whole test suite: the one command the README and CI run.
# Installs or finds everything the tests need, or stops with one sentence saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "scripts/test.sh: $1 is missing; $2" >&2; exit 1; }; }
# Installs Debian package $1 when we can (root with apt-get); otherwise stops with sentence $2.
apt_install_or_stop() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $1 (apt-get install $1)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    echo "scripts/test.sh: $2" >&2
    exit 1
  fi
}
need cargo "install Rust (https://rustup.rs) and rerun."

# A fresh build of every test takes about 4 GiB, and the PostgreSQL clusters the tests start
# take more; a disk that fills mid-build shows only as a linker "Bus error", so say it first.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt $((8 * 1024 * 1024)) ]; then
  echo "scripts/test.sh: only $((free_kib / 1024 / 1024)) GiB of disk is free here and the build and tests need about 8 GiB; free some space (e.g. cargo clean) and rerun." >&2
  exit 1
fi

# The gateway's integration tests run real Ethereum JSON-RPC nodes: ganache, pinned, from npm.
GANACHE_VERSION=7.9.2
if [ -z "${CLOISTER_GANACHE:-}" ]; then
    ganache_dir=.cache/ganache
    if ! grep -qs "\"version\": \"$GANACHE_VERSION\"" "$ganache_dir/node_modules/ganache/package.json"; then
        need npm "install Node.js 18 or later with npm (the gateway tests run ganache@$GANACHE_VERSION) and rerun."
        echo "== npm install ganache@$GANACHE_VERSION into $ganache_dir"
        npm install --silent --save-exact --no-audit --no-fund --prefix "$ganache_dir" "ganache@$GANACHE_VERSION" >/dev/null
    fi
fi

# PostgreSQL server binaries for the store's PostgreSQL tests and the HA harness. The tests find
# them themselves (cloister-harness: $CLOISTER_PG_BIN, /usr/lib/postgresql/*/bin, pg_config);
# this only makes sure they exist, installing them when we can.
have_pg_server() {
  [ -n "${CLOISTER_PG_BIN:-}" ] && [ -x "$CLOISTER_PG_BIN/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]
}
if ! have_pg_server; then
  apt_install_or_stop postgresql "PostgreSQL server binaries (initdb, pg_ctl) are missing; install them (e.g. 'sudo apt-get install postgresql') or set CLOISTER_PG_BIN to their directory, and rerun."
fi
# The harness's cleanup watchdog needs setsid, and as root it runs the servers as an
# unprivileged user with setpriv (both util-linux).
need setsid "install util-linux and rerun."
if [ "$(id -u)" = 0 ]; then need setpriv "install util-linux and rerun."; fi

# The Patroni failover tests (crates/cli/tests/patroni_failover.rs) run a real Patroni cluster on
# Debian's etcd. Patroni comes from PyPI, pinned, in a virtual environment made with the system
# Python: the servers run as an unprivileged user, who must be able to execute the interpreter
# (Patroni re-executes it to start PostgreSQL), and Debian's Patroni 3.0.2 can split-brain on
# etcd's v3 API.
if ! command -v etcd >/dev/null 2>&1; then
  apt_install_or_stop etcd-server "etcd is missing; install it (e.g. 'sudo apt-get install etcd-server') and rerun."
fi
PATRONI_VERSION=4.1.5
if [ -z "${CLOISTER_PATRONI:-}" ]; then
  # As root the servers run as another user, who must be able to read the environment
  # wherever this checkout is: it goes to /opt. The harness looks in both places.
  if [ "$(id -u)" = 0 ]; then patroni_dir=/opt/cloister-test/patroni; else patroni_dir=.cache/patroni; fi
  if ! "$patroni_dir/bin/patroni" --version 2>/dev/null | grep -qx "patroni $PATRONI_VERSION"; then
    if ! /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
      apt_install_or_stop python3-venv "Python's venv module is missing; install it (e.g. 'sudo apt-get install python3-venv') and rerun."
    fi
    echo "== pip install patroni==$PATRONI_VERSION into $patroni_dir"
    rm -rf "$patroni_dir"
    /usr/bin/python3 -m venv "$patroni_dir"
    "$patroni_dir/bin/pip" install --quiet --disable-pip-version-check \
      "patroni[etcd3]==$PATRONI_VERSION" "psycopg2-binary==2.9.13"
  fi
fi

# The proxy benchmark's smoke test (crates/cli/tests/proxy_bench_smoke.rs) compares against
# Debian's nginx, as the reference HA recipe uses it.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt_install_or_stop nginx "nginx is missing; install it (e.g. 'sudo apt-get install nginx') and rerun."
fi
# ... and Debian's HAProxy, the strongest open-source recipe beside it.
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  apt_install_or_stop haproxy "haproxy is missing; install it (e.g. 'sudo apt-get install haproxy') and rerun."
fi

# The metrics test (crates/cli/tests/prometheus.rs) runs Debian's real Prometheus, on its own
# config, storage and port, and lints with promtool (same package). Installing the package may
# try to start the packaged service; the test never talks to it.
if ! { command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; } \
   || ! { command -v promtool >/dev/null 2>&1 || [ -x /usr/bin/promtool ]; }; then
  apt_install_or_stop prometheus "Prometheus is missing; install it (e.g. 'sudo apt-get install prometheus', which brings promtool) and rerun."
fi

# cloister-tls's tests prove interoperability with the files Java and OpenSSL make: keystores
# from keytool (a JDK) and certificates from the openssl command line.
if ! command -v keytool >/dev/null 2>&1 && ! [ -x "${JAVA_HOME:-/nonexistent}/bin/keytool" ]; then
  apt_install_or_stop openjdk-17-jdk-headless "Java's keytool is missing; install a JDK (e.g. 'sudo apt-get install openjdk-17-jdk-headless') or set JAVA_HOME, and rerun."
fi
# The migration tests (crates/cli/tests/migrate.rs) make Tessera's default H2 store with H2's
# own jar (Debian's libh2-java, the H2 2.1 Tessera bundles) and read it with the same jar.
if [ -z "${CLOISTER_H2_JAR:-}" ] && [ ! -f /usr/share/java/h2.jar ]; then
  apt_install_or_stop libh2-java "H2's jar is missing; install it (e.g. 'sudo apt-get install libh2-java') or set CLOISTER_H2_JAR, and rerun."
fi
if ! command -v openssl >/dev/null 2>&1; then
  apt_install_or_stop openssl "the openssl command line is missing; install it (e.g. 'sudo apt-get install openssl') and rerun."
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
