#!/usr/bin/env bash
# PgBouncer between the Gridgov replicas and PostgreSQL (docker-compose.yml, deploy/k8s):
# transaction pooling, one pool per service database. Writes its configuration from the
# services' own database URLs (CASE_DATABASE_URL, GRID_DATABASE_URL, NOTIFY_DATABASE_URL, which
# name this pooler: postgresql+asyncpg://<role>:<password>@pgbouncer:6432/<database>) and
# forwards to POSTGRES_HOST:POSTGRES_PORT with the same role, password and database, then runs
# PgBouncer in the foreground. docs/deploy.md has the sizing table.
#
#   PGBOUNCER_POOL_SIZE        server connections per database (default 20)
#   PGBOUNCER_MAX_CLIENT_CONN  client connections in all (default 2000)
#   PGBOUNCER_CONFIG_DIR       where the files are written (default /tmp/pgbouncer)
#   PGBOUNCER_CONFIG_ONLY=1    write the files and exit (used by tests/deploy)
set -euo pipefail

conf_dir=${PGBOUNCER_CONFIG_DIR:-/tmp/pgbouncer}
mkdir -p "$conf_dir"
umask 077
users="$conf_dir/userlist.txt"
: >"$users"
databases=""
for var in CASE_DATABASE_URL GRID_DATABASE_URL NOTIFY_DATABASE_URL; do
    url=${!var:-}
    if [[ -z $url ]]; then
        echo "gridgov-pgbouncer: $var is not set" >&2
        exit 1
    fi
    rest=${url#*://}
    creds=${rest%%@*}
    role=${creds%%:*}
    password=${creds#*:}
    database=${rest#*@}
    database=${database#*/}
    database=${database%%\?*}
    if [[ -z $role || -z $password || $password == "$creds" || -z $database ]]; then
        echo "gridgov-pgbouncer: $var must look like postgresql+asyncpg://role:password@host:port/database" >&2
        exit 1
    fi
    printf '"%s" "%s"\n' "$role" "$password" >>"$users"
    databases+="$database = host=${POSTGRES_HOST:-postgres} port=${POSTGRES_PORT:-5432} dbname=$database"$'\n'
done

cat >"$conf_dir/pgbouncer.ini" <<INI
[databases]
$databases
[pgbouncer]
listen_addr = ${PGBOUNCER_LISTEN_ADDR:-0.0.0.0}
listen_port = ${PGBOUNCER_PORT:-6432}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $users
; transaction pooling: a server connection belongs to a client for one transaction only. The
; services are set for it (<PREFIX>DB_PGBOUNCER=true: no prepared-statement cache, unique
; statement names, statement_timeout on the role) and keep no session state (advisory locks
; are pg_advisory_xact_lock, settings SET LOCAL).
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-2000}
server_reset_query =
ignore_startup_parameters = extra_float_digits
server_lifetime = 3600
server_idle_timeout = 600
log_connections = 0
log_disconnections = 0
INI

if [[ ${PGBOUNCER_CONFIG_ONLY:-} == 1 ]]; then
    exit 0
fi
exec pgbouncer "$conf_dir/pgbouncer.ini"
