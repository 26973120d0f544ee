#!/bin/sh
# Runs once during `docker build`: initdb and a small configuration.
set -eu
install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /run/postgresql
su postgres -c "initdb -D '$PGDATA' --username=postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null"
cat >> "$PGDATA/postgresql.conf" <<'CONF'
# --- drillkit reslab ---
listen_addresses = '*'
port = 5432
max_connections = 20
superuser_reserved_connections = 3
shared_buffers = 16MB
unix_socket_directories = '/run/postgresql'
log_destination = 'stderr'
logging_collector = off
log_min_messages = warning
CONF
cat > "$PGDATA/pg_hba.conf" <<'CONF'
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
host    all   all   0.0.0.0/0     scram-sha-256
CONF
su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start >/dev/null"
su postgres -c "psql -v ON_ERROR_STOP=1 -q -d postgres" <<'SQL'
CREATE ROLE app LOGIN PASSWORD 'app';
CREATE DATABASE app OWNER app;
SQL
su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop >/dev/null"
