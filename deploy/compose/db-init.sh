#!/usr/bin/env bash
# The compose stack's `db-init` one-shot: what the local stack's tm_devstack.postgres.bootstrap does,
# with psql. In database $DATABASE, for each service named in $SERVICES (space or comma separated):
#   * a role <database>_<service>: LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE, password from the
#     variable <SERVICE>_DB_PASSWORD (e.g. AUTH_DB_PASSWORD);
#   * a schema <service> owned by that role, pinned as the role's search_path;
#   * CONNECT on the database; PUBLIC keeps nothing on the database nor on schema public;
#   * USAGE on the shared `extensions` schema, where the extensions services use live (pg_trgm).
# Idempotent: it runs on every `docker compose up` (so a service added later gets its role on an
# existing volume) and re-sets the passwords to the ones given.
# Connection: the standard libpq variables (PGHOST, PGUSER, PGPASSWORD, ...) of an admin role.
set -euo pipefail

: "${DATABASE:?DATABASE is not set}"
: "${SERVICES:?SERVICES is not set}"

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
    role="${DATABASE}_${service}"
    # The password reaches psql through its environment (\getenv), never its command line.
    ROLE_PASSWORD="${!password_var}" run_psql --dbname="$DATABASE" \
        --set db="$DATABASE" --set role="$role" --set schema="$service" <<'SQL'
\getenv password ROLE_PASSWORD
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SELECT format('CREATE ROLE %I', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"role";
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA extensions TO :"role";
ALTER ROLE :"role" SET search_path = :"schema";
SQL
    echo "db-init: role $role owns schema $service in database $DATABASE"
done
