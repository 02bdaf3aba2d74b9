#!/usr/bin/env bash
# A native TimescaleDB (real PostgreSQL + TimescaleDB 2.23 with its TSL features) beside the embedded one,
# without Docker. Used by `make test-native` (CI's second run of the suite) and by `make up` when such an
# engine is on the machine. docs/native-engine.md says more.
#
#   scripts/native-timescaledb.sh build           a PostgreSQL with TimescaleDB 2.23.0 (TSL): the one installed
#                                                 on the machine if it is that version, else built from
#                                                 ../shared/timescaledb/timescaledb-2.23.0.tar.gz into .native/
#                                                 (kept: a second call takes no time); prints its bin directory
#   scripts/native-timescaledb.sh detect          the bin directory of a PostgreSQL whose TimescaleDB (>= 2.23,
#                                                 TSL) is installed on the machine or built in .native/; exit 1
#                                                 when there is none (nothing is built or installed)
#   scripts/native-timescaledb.sh start DIR PORT [--scratch]
#                                                 a cluster in DIR (initialised on first use), 127.0.0.1:PORT,
#                                                 socket in DIR.socket, log DIR.log; --scratch: fsync off (tests)
#   scripts/native-timescaledb.sh stop DIR        fast shutdown of the cluster in DIR (nothing if not running)
#   scripts/native-timescaledb.sh test CMD...     build, start a fresh scratch cluster under .native/test on a
#                                                 free port, run CMD with INGEST_TEST_DATABASE_URL pointing at it,
#                                                 stop it and remove its data whatever CMD does; exit with CMD's
#
# Environment: TIMESCALEDB_SOURCE (the tarball; SHA256SUMS must lie beside it), NATIVE_DIR (default .native),
# NATIVE_BUILD=always (build into .native/ even when the machine has TimescaleDB 2.23.0 installed),
# NATIVE_PG_MAJOR (PostgreSQL major to build against when none is installed; default 15, Debian bookworm's).
#
# The cluster runs as the `postgres` OS user when this script runs as root (PostgreSQL refuses root), else
# as the caller. Building needs cmake, a C compiler, libssl-dev and postgresql-server-dev-N: missing Debian
# packages are installed with apt-get when running as root (CI), else the command to run is printed.
#
# Why a private tree: PostgreSQL finds its extensions relative to its own executable (pkglibdir and
# sharedir are relocatable), so copies of postgres/initdb/pg_ctl in .native/pg/<bindir> next to links to the
# system's libraries and share files plus TimescaleDB's own files make an installation of PostgreSQL +
# TimescaleDB that lives in the build tree: nothing under /usr is written.
set -euo pipefail

TSDB_VERSION=2.23.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NATIVE_DIR=${NATIVE_DIR:-.native}
case "$NATIVE_DIR" in /*) ;; *) NATIVE_DIR="$ROOT/$NATIVE_DIR" ;; esac
TIMESCALEDB_SOURCE=${TIMESCALEDB_SOURCE:-$ROOT/../shared/timescaledb/timescaledb-$TSDB_VERSION.tar.gz}
TREE="$NATIVE_DIR/pg"          # the private PostgreSQL + TimescaleDB installation
STAMP="$TREE/.stamp"           # what it was built from; a different source or PostgreSQL rebuilds it

say() { echo "native-timescaledb: $*" >&2; }
die() { say "$*"; exit 1; }

# --- finding PostgreSQL installations ---------------------------------------------------------------------

pg_configs() {  # every pg_config of a PostgreSQL server on the machine, newest major first
  {
    command -v pg_config 2>/dev/null || true
    ls -d /usr/lib/postgresql/*/bin/pg_config /usr/pgsql-*/bin/pg_config /usr/local/pgsql/bin/pg_config \
      2>/dev/null || true
  } | while read -r c; do
    [ -x "$c" ] || continue
    bindir=$("$c" --bindir 2>/dev/null) || continue
    [ -x "$bindir/postgres" ] || continue
    echo "$("$c" --version | awk '{print $2}') $c"
  done | sort -rV -u -k1,1 | awk '{print $2}'
}

control_version() {  # default_version of timescaledb.control in a share directory, or nothing
  local f="$1/extension/timescaledb.control"
  [ -f "$f" ] && sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$f" | head -n1
}

tsl_version() {  # "VERSION" when pg_config's installation has TimescaleDB with its TSL library; else nothing
  local c=$1 v
  v=$(control_version "$("$c" --sharedir)")
  [ -n "$v" ] && [ -f "$("$c" --pkglibdir)/timescaledb-tsl-$v.so" ] && echo "$v"
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

installed_bindir() {  # bin directory of an installed PostgreSQL with TimescaleDB; $1 = exact|min
  local c v
  for c in $(pg_configs); do
    v=$(tsl_version "$c") || true
    if [ -z "$v" ]; then
      [ -n "$(control_version "$("$c" --sharedir)")" ] && say "skipped $c: TimescaleDB without its TSL library (Apache-only build)"
      continue
    fi
    if { [ "$1" = exact ] && [ "$v" = "$TSDB_VERSION" ]; } || { [ "$1" = min ] && version_ge "$v" "$TSDB_VERSION"; }; then
      "$c" --bindir
      return 0
    fi
    say "skipped $c: TimescaleDB $v (wanted $([ "$1" = exact ] && echo "" || echo ">= ")$TSDB_VERSION)"
  done
  return 1
}

tree_bindir() {  # bin directory of the private tree when built and still matching the system's PostgreSQL
  [ -f "$STAMP" ] || return 1
  local bindir
  bindir=$(sed -n 's/^bindir=//p' "$STAMP")
  [ -x "$TREE$bindir/postgres" ] || return 1
  [ "$(sed -n 's/^postgres=//p' "$STAMP")" = "$("$bindir/postgres" --version 2>/dev/null)" ] || return 1
  [ "$(sed -n 's/^timescaledb=//p' "$STAMP")" = "$TSDB_VERSION" ] || return 1
  echo "$TREE$bindir"
}

# --- building ---------------------------------------------------------------------------------------------

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

apt_install() {
  local missing
  missing=$(missing_packages "$@" | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    die "missing packages: $missing(as root: apt-get install -y --no-install-recommends $missing)"
  fi
  say "apt-get install $missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; } ||
    die "apt-get could not install: $missing"
}

server_pg_config() {  # pg_config of the installed PostgreSQL server to build against (installs one if none)
  local c
  c=$(pg_configs | head -n1)
  if [ -z "$c" ]; then
    apt_install "postgresql-${NATIVE_PG_MAJOR:-15}"
    c=$(pg_configs | head -n1)
    [ -n "$c" ] || die "no PostgreSQL server found after installing postgresql-${NATIVE_PG_MAJOR:-15}"
  fi
  echo "$c"
}

verify_source() {
  [ -f "$TIMESCALEDB_SOURCE" ] || die "no TimescaleDB source at $TIMESCALEDB_SOURCE (set TIMESCALEDB_SOURCE)"
  local sums want got
  sums="$(dirname "$TIMESCALEDB_SOURCE")/SHA256SUMS"
  [ -f "$sums" ] || die "no SHA256SUMS beside $TIMESCALEDB_SOURCE"
  want=$(awk -v f="$(basename "$TIMESCALEDB_SOURCE")" '$2 == f || $2 == "*" f {print $1}' "$sums")
  [ -n "$want" ] || die "$sums lists no $(basename "$TIMESCALEDB_SOURCE")"
  got=$(sha256sum "$TIMESCALEDB_SOURCE" | awk '{print $1}')
  [ "$want" = "$got" ] || die "SHA-256 of $TIMESCALEDB_SOURCE is $got, $sums says $want"
  echo "$got"
}

link_entries() {  # link_entries SRC DST [SKIP_GLOB...]: DST/<e> -> SRC/<e> for each entry of SRC not skipped
  local src=$1 dst=$2 e g
  shift 2
  mkdir -p "$dst"
  for e in "$src"/*; do
    for g in "$@"; do
      # shellcheck disable=SC2254
      case "$(basename "$e")" in $g) continue 2 ;; esac
    done
    ln -sfn "$e" "$dst/$(basename "$e")"
  done
}

build_tree() {
  local c bindir pkglibdir sharedir sum major work t0
  c=$(server_pg_config)
  major=$("$c" --version | awk '{print $2}' | cut -d. -f1)
  apt_install cmake make gcc libc6-dev libssl-dev "postgresql-server-dev-$major"
  sum=$(verify_source)
  bindir=$("$c" --bindir) pkglibdir=$("$c" --pkglibdir) sharedir=$("$c" --sharedir)
  work="$NATIVE_DIR/work"
  t0=$(date +%s)
  say "building TimescaleDB $TSDB_VERSION against $("$bindir/postgres" --version) (log: $work/build.log)"
  rm -rf "$work" "$TREE"
  mkdir -p "$work"
  tar xzf "$TIMESCALEDB_SOURCE" -C "$work"
  {
    cmake -S "$work/timescaledb-$TSDB_VERSION" -B "$work/build" -DPG_CONFIG="$c" -DCMAKE_BUILD_TYPE=Release \
      -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DSEND_TELEMETRY_DEFAULT=OFF &&
      make -C "$work/build" -j"$(nproc)" &&
      make -C "$work/build" install DESTDIR="$work/stage"
  } >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; die "build failed (log: $work/build.log)"; }
  # the private installation: the system's PostgreSQL by links, TimescaleDB's files by copy, and real copies
  # of the three programs whose location decides where the server looks for libraries and extensions
  link_entries "$bindir" "$TREE$bindir" postgres postmaster initdb pg_ctl
  cp "$bindir/postgres" "$bindir/initdb" "$bindir/pg_ctl" "$TREE$bindir/"
  ln -sfn postgres "$TREE$bindir/postmaster"
  link_entries "$pkglibdir" "$TREE$pkglibdir" 'timescaledb*'
  link_entries "$sharedir" "$TREE$sharedir" extension
  link_entries "$sharedir/extension" "$TREE$sharedir/extension" 'timescaledb*'
  cp "$work/stage$pkglibdir"/timescaledb*.so "$TREE$pkglibdir/"
  cp "$work/stage$sharedir"/extension/timescaledb* "$TREE$sharedir/extension/"
  chmod -R a+rX "$NATIVE_DIR"
  printf 'timescaledb=%s\nsha256=%s\nbindir=%s\npostgres=%s\n' "$TSDB_VERSION" "$sum" "$bindir" \
    "$("$bindir/postgres" --version)" >"$STAMP"
  mv "$work/build.log" "$NATIVE_DIR/build.log"
  rm -rf "$work"
  say "built in $(($(date +%s) - t0)) s into $TREE"
}

cmd_build() {
  local b
  if [ "${NATIVE_BUILD:-auto}" != always ] && b=$(installed_bindir exact); then
    say "TimescaleDB $TSDB_VERSION (TSL) is installed for $("$b/postgres" --version): nothing to build"
  elif b=$(tree_bindir); then
    say "TimescaleDB $TSDB_VERSION already built in $TREE"
  else
    build_tree
    b=$(tree_bindir) || die "the private tree in $TREE does not work"
  fi
  echo "$b"
}

cmd_detect() {
  if [ "${NATIVE_BUILD:-auto}" != always ] && installed_bindir min; then return 0; fi
  tree_bindir && return 0
  return 1
}

# --- clusters -----------------------------------------------------------------------------------------------

as_owner() {  # run a command as the cluster's OS user
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root, and there is no 'postgres' OS user to own the cluster"
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

owned_dir() {  # mkdir, owned by the cluster's OS user
  mkdir -p "$1"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$1"; fi
  chmod 700 "$1"
}

running_pid() {  # the postmaster's pid when the cluster in $1 runs
  local pid
  [ -f "$1/postmaster.pid" ] || return 1
  pid=$(head -n1 "$1/postmaster.pid")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

cmd_start() {
  local dir=${1:?usage: start DIR PORT [--scratch]} port=${2:?usage: start DIR PORT [--scratch]}
  local scratch=${3:-} bindir sock log
  case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
  sock="$dir.socket" log="$dir.log"
  if running_pid "$dir" >/dev/null; then
    say "already running: $dir (pid $(running_pid "$dir"), port $(sed -n 4p "$dir/postmaster.pid"))"
    return 0
  fi
  if [ "$scratch" = --scratch ]; then bindir=$(cmd_build); else
    bindir=$(cmd_detect) || die "no PostgreSQL with TimescaleDB >= $TSDB_VERSION (TSL) on this machine"
  fi
  # a Unix socket path is limited to 107 bytes: a deep checkout puts the socket in a temporary directory
  if [ ${#sock} -gt 90 ]; then sock=$(mktemp -d /tmp/native-pg.XXXXXX); fi
  owned_dir "$sock"
  if [ ! -f "$dir/PG_VERSION" ]; then
    owned_dir "$dir"
    as_owner "$bindir/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C >"$log" 2>&1 ||
      { cat "$log" >&2; die "initdb failed"; }
    {
      echo "# set by scripts/native-timescaledb.sh"
      echo "listen_addresses = '127.0.0.1'"
      echo "shared_preload_libraries = 'timescaledb'"
      echo "timescaledb.telemetry_level = off"
      # one job scheduler per database and a worker per running job: PostgreSQL's default of 8 is too few
      echo "max_worker_processes = 32"
      echo "timescaledb.max_background_workers = 16"
      echo "log_min_messages = warning"
      if [ "$scratch" != --scratch ]; then
        # a long-lived server: a job scheduler that fails (e.g. chosen as a deadlock's victim while a
        # migration changes policies, docs/native-engine.md) is restarted after a minute instead of
        # never; the test cluster keeps TimescaleDB's default (never), like the compose image
        echo "timescaledb.bgw_scheduler_restart_time = 60"
      else
        echo "# a throw-away test cluster: durability buys nothing"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } >>"$dir/postgresql.conf"
  elif [ "$(cat "$dir/PG_VERSION")" != "$("$bindir/postgres" --version | awk '{print $3}' | cut -d. -f1)" ]; then
    die "$dir holds a PostgreSQL $(cat "$dir/PG_VERSION") cluster; $bindir is $("$bindir/postgres" --version)"
  fi
  touch "$log"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$log"; fi
  if ! as_owner "$bindir/pg_ctl" -D "$dir" -l "$log" -w -t 120 -o "-p $port -k $sock" start >/dev/null; then
    tail -n 20 "$log" >&2
    die "the cluster in $dir did not start (log: $log)"
  fi
  say "started $dir: postgresql://postgres@127.0.0.1:$port/postgres ($("$bindir/postgres" --version), log $log)"
}

cmd_stop() {
  local dir=${1:?usage: stop DIR} pid
  case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
  pid=$(running_pid "$dir") || { say "not running: $dir"; return 0; }
  kill -INT "$pid"  # fast shutdown: roll back open transactions, checkpoint, exit
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || { say "stopped $dir"; return 0; }; sleep 0.1; done
  say "$dir did not stop in 60 s: immediate shutdown"
  kill -QUIT "$pid" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

TEST_DIR="$NATIVE_DIR/test/pg"

cmd_test() {
  [ $# -gt 0 ] || die "usage: test CMD [ARGS...]"
  local port rc=0
  cmd_stop "$TEST_DIR" 2>/dev/null || true  # a run killed before its trap could stop it
  rm -rf "$TEST_DIR" "$TEST_DIR.socket" "$TEST_DIR.log"
  mkdir -p "$(dirname "$TEST_DIR")"
  port=$(free_port)
  trap 'cmd_stop "$TEST_DIR"; rm -rf "$TEST_DIR"' EXIT
  trap 'exit 130' INT TERM
  cmd_start "$TEST_DIR" "$port" --scratch
  INGEST_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres" "$@" || rc=$?
  say "server log: $TEST_DIR.log ($(grep -c ' ERROR: ' "$TEST_DIR.log" || true) ERROR lines; tests provoke some on purpose)"
  return $rc
}

case "${1:-}" in
  build) cmd_build ;;
  detect) cmd_detect ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
