#!/usr/bin/env bash
# The compose stack's `db-init` one-shot: what the local stack's tm_devstack.postgres.bootstrap does,
# with psql. In database $DATABASE, for each service named in $SERVICES (space or comma separated):
#   * a role <database>_<service>: LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE, password from the
#     variable <SERVICE>_DB_PASSWORD (e.g. AUTH_DB_PASSWORD);
#   * a schema <service> owned by that role, pinned as the role's search_path;
#   * CONNECT on the database; PUBLIC keeps nothing on the database nor on schema public;
#   * USAGE on the shared `extensions` schema, where the extensions services use live (pg_trgm);
#   * limits: CONNECTION LIMIT <SERVICE>_DB_CONNECTION_LIMIT (else DB_ROLE_CONNECTION_LIMIT, 150),
#     and the defaults statement_timeout = DB_STATEMENT_TIMEOUT (30s) and
#     idle_in_transaction_session_timeout = DB_IDLE_IN_TRANSACTION_TIMEOUT (60s). A session's own
#     SET wins over them: migrations set their own, longer, statement_timeout.
# Idempotent: it runs on every `docker compose up` (so a service added later gets its role on an
# existing volume) and re-sets the passwords to the ones given.
# Connection: the standard libpq variables (PGHOST, PGUSER, PGPASSWORD, ...) of an admin role.
set -euo pipefail

: "${DATABASE:?DATABASE is not set}"
: "${SERVICES:?SERVICES is not set}"
statement_timeout="${DB_STATEMENT_TIMEOUT:-30s}"
idle_timeout="${DB_IDLE_IN_TRANSACTION_TIMEOUT:-60s}"
# A Postgres duration (no unit: milliseconds; 0: no limit), as tm_common.migrations accepts.
duration='^[0-9]+ *(us|ms|s|min|h|d)?$'
for setting in "DB_STATEMENT_TIMEOUT=$statement_timeout" "DB_IDLE_IN_TRANSACTION_TIMEOUT=$idle_timeout"; do
    if [[ ! "${setting#*=}" =~ $duration ]]; then
        echo "db-init: $setting is not a Postgres duration such as 30s or 500ms" >&2
        exit 1
    fi
done

run_psql() {
    psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 "$@"
}

# The image creates POSTGRES_DB on first start; this also covers a server that lacks it.
run_psql --dbname=postgres --set db="$DATABASE" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
run_psql --dbname="$DATABASE" <<'SQL'
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions;
SQL

for service in ${SERVICES//,/ }; do
    password_var="${service^^}_DB_PASSWORD"
    if [[ -z "${!password_var:-}" ]]; then
        echo "db-init: $password_var is not set" >&2
        exit 1
    fi
    limit_var="${service^^}_DB_CONNECTION_LIMIT"
    limit="${!limit_var:-${DB_ROLE_CONNECTION_LIMIT:-150}}"
    if [[ ! "$limit" =~ ^(-1|[0-9]+)$ ]]; then
        echo "db-init: connection limit of $service ($limit) is not a number (-1: none)" >&2
        exit 1
    fi
    role="${DATABASE}_${service}"
    # The password reaches psql through its environment (\getenv), never its command line.
    ROLE_PASSWORD="${!password_var}" run_psql --dbname="$DATABASE" \
        --set db="$DATABASE" --set role="$role" --set schema="$service" --set limit="$limit" \
        --set statement_timeout="$statement_timeout" --set idle_timeout="$idle_timeout" <<'SQL'
\getenv password ROLE_PASSWORD
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SELECT format('CREATE ROLE %I', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"role";
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA extensions TO :"role";
ALTER ROLE :"role" SET search_path = :"schema";
ALTER ROLE :"role" CONNECTION LIMIT :limit;
ALTER ROLE :"role" SET statement_timeout = :'statement_timeout';
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = :'idle_timeout';
SQL
    echo "db-init: role $role owns schema $service in database $DATABASE" \
        "(at most $limit connections, statement_timeout $statement_timeout," \
        "idle_in_transaction_session_timeout $idle_timeout)"
done
