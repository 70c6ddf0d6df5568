#!/usr/bin/env bash
# One role and one database per service, run by the postgres image the first time its data
# volume is empty (/docker-entrypoint-initdb.d). The names and passwords come from the services'
# own database URLs (CASE_DATABASE_URL, GRID_DATABASE_URL, NOTIFY_DATABASE_URL in .env), so the URL
# is the one place that says them:
#   postgresql+asyncpg://<role>:<password>@<host>:<port>/<database>
# Passwords must be URL-safe (letters, digits, - _ .): `openssl rand -hex 24` makes one.
# Safe to run again: existing roles get the password from the URL, existing databases are kept.
set -euo pipefail

psql_admin() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" "$@"
}

create_service_database() {
    local var=$1 url=${!1:-}
    if [[ -z $url ]]; then
        echo "gridgov: $var is not set; no database created for it" >&2
        return 1
    fi
    local rest=${url#*://}          # role:password@host:port/database?options
    local creds=${rest%%@*}
    local role=${creds%%:*}
    local password=${creds#*:}
    local database=${rest#*@}
    database=${database#*/}
    database=${database%%\?*}
    if [[ -z $role || -z $password || $password == "$creds" || -z $database ]]; then
        echo "gridgov: $var must look like postgresql+asyncpg://role:password@host:port/database" >&2
        return 1
    fi
    psql_admin --dbname postgres \
        -v role="$role" -v password="$password" -v database="$database" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'password') \gexec
-- through PgBouncer the services cannot send statement_timeout when they connect: the role has it
SELECT format('ALTER ROLE %I SET statement_timeout = %L', :'role', '30s') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'database', :'role') \gexec
SQL
    # extensions the migrations use; created here so that no service role needs superuser
    psql_admin --dbname "$database" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;
SQL
    echo "gridgov: database $database owned by $role is ready"
}

for var in CASE_DATABASE_URL GRID_DATABASE_URL NOTIFY_DATABASE_URL; do
    create_service_database "$var"
done
