#!/usr/bin/env bash
# A local PostgreSQL 18 + pgvector for trying the PostgreSQL memory store and for its benchmark,
# from the binaries ensure_postgres unpacks (the tests start their own servers instead).
#   scripts/postgres.sh start [PORT]   # prints the URL to give as --db
#   scripts/postgres.sh stop
# The data lives in $HAMLET_HOME/pgdata; as root the server runs as the user hamlet-pg.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_postgres
home="${HAMLET_HOME:-$HOME/.cache/hamlet}"
bin="$home/pgserver/pgserver/pginstall/bin"
data="${HAMLET_PGDATA:-/tmp/hamlet-pgdata}"
as=()
if [ "$(id -u)" = 0 ]; then
    id hamlet-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin hamlet-pg
    # /root is not readable by that user: run from a readable copy.
    if ! runuser -u hamlet-pg -- test -x "$bin/postgres"; then
        [ -x /tmp/hamlet-pgserver/pgserver/pginstall/bin/postgres ] || { cp -a "$home/pgserver" /tmp/hamlet-pgserver.$$ && chmod -R a+rX /tmp/hamlet-pgserver.$$ && mv /tmp/hamlet-pgserver.$$ /tmp/hamlet-pgserver; }
        bin=/tmp/hamlet-pgserver/pgserver/pginstall/bin
    fi
    as=(runuser -u hamlet-pg --)
fi
case "${1:-}" in
    start)
        port="${2:-54329}"
        if [ ! -f "$data/PG_VERSION" ]; then
            mkdir -p "$data" && { [ ${#as[@]} = 0 ] || chown hamlet-pg "$data"; }
            "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
        fi
        "${as[@]}" "$bin/pg_ctl" -D "$data" -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c shared_buffers=${HAMLET_PG_SHARED_BUFFERS:-1GB}" -l "$data/server.log" -w start >/dev/null
        echo "postgres://postgres@127.0.0.1:$port/postgres"
        ;;
    stop) "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null ;;
    *) echo "usage: scripts/postgres.sh start [PORT] | stop" >&2; exit 2 ;;
esac
