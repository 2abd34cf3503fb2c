#!/bin/sh
# The compose stack's `pgbouncer` (POSIX sh; any image with pgbouncer on PATH): writes
# pgbouncer.ini and userlist.txt, then runs PgBouncer in transaction mode in front of Postgres.
#   POSTGRES_HOST, POSTGRES_PORT (5432)   the server; DATABASE the one database it serves
#   SERVICES ("auth tasks ...")           one role per service, <DATABASE>_<service>, with its
#                                         password from <SERVICE>_DB_PASSWORD (as db-init.sh)
#   LISTEN_PORT (6432)                    where the services connect (DATABASE_URL)
#   PGBOUNCER_DEFAULT_POOL_SIZE (10)      server connections per role
#   PGBOUNCER_MAX_DB_CONNECTIONS (60)     server connections in all: what Postgres sees from here
#   PGBOUNCER_MAX_CLIENT_CONN (1000)      client connections (every process's pools)
#   PGBOUNCER_MAX_PREPARED_STATEMENTS (200)  protocol-level prepared statements kept per server
#                                         connection (PgBouncer >= 1.21; "": the line is left out,
#                                         for older ones, where services need
#                                         DB_PREPARED_STATEMENTS=false)
#   PGBOUNCER_CONFIG_DIR (/etc/pgbouncer) where the files are written (owner-only)
# Session state does not survive a transaction here: services set search_path through their
# role's default (db-init.sh), and LISTEN and migrations go to Postgres directly
# (DATABASE_DIRECT_URL). `options` (psycopg's -c search_path) is ignored for that reason.
set -eu

: "${POSTGRES_HOST:?POSTGRES_HOST is not set}"
: "${DATABASE:?DATABASE is not set}"
: "${SERVICES:?SERVICES is not set}"
dir="${PGBOUNCER_CONFIG_DIR:-/etc/pgbouncer}"
max_prepared="${PGBOUNCER_MAX_PREPARED_STATEMENTS-200}"

umask 077
mkdir -p "$dir"
: > "$dir/userlist.txt"
for service in $(echo "$SERVICES" | tr ',' ' '); do
    upper=$(echo "$service" | tr '[:lower:]' '[:upper:]')
    password=$(printenv "${upper}_DB_PASSWORD" || true)
    if [ -z "$password" ]; then
        echo "pgbouncer: ${upper}_DB_PASSWORD is not set" >&2
        exit 1
    fi
    printf '"%s" "%s"\n' "${DATABASE}_${service}" "$password" >> "$dir/userlist.txt"
done

cat > "$dir/pgbouncer.ini" <<INI
[databases]
${DATABASE} = host=${POSTGRES_HOST} port=${POSTGRES_PORT:-5432} dbname=${DATABASE}

[pgbouncer]
listen_addr = ${LISTEN_ADDR:-0.0.0.0}
listen_port = ${LISTEN_PORT:-6432}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${dir}/userlist.txt
pool_mode = transaction
default_pool_size = ${PGBOUNCER_DEFAULT_POOL_SIZE:-10}
max_db_connections = ${PGBOUNCER_MAX_DB_CONNECTIONS:-60}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-1000}
ignore_startup_parameters = options,extra_float_digits
query_wait_timeout = ${PGBOUNCER_QUERY_WAIT_TIMEOUT:-10}
server_lifetime = 1800
INI
if [ -n "$max_prepared" ]; then
    echo "max_prepared_statements = ${max_prepared}" >> "$dir/pgbouncer.ini"
fi

exec "${PGBOUNCER:-pgbouncer}" "$dir/pgbouncer.ini"
