#!/bin/sh
# Runs once during `docker build`: initdb, configuration, schema and seed data.
set -eu
install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /run/postgresql
su postgres -c "initdb -D '$PGDATA' --username=postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null"

cat >> "$PGDATA/postgresql.conf" <<'CONF'
# --- drillkit identity lab ---
listen_addresses = '*'
port = 5432
# up to 10 app replicas in a surge drill x a pool of 4, plus health connections.
max_connections = 100
shared_buffers = 64MB
unix_socket_directories = '/run/postgresql'
timezone = 'Europe/Berlin'
log_timezone = 'Europe/Berlin'
log_destination = 'stderr'
logging_collector = off
log_connections = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
# Durability stays at the defaults (fsync, synchronous_commit on): drills check that acknowledged
# logins and PIN-reset requests survive a database restart.
CONF

# Lab only: any address on the lab network may connect with a password (the app comes through
# Toxiproxy, so its source address is the proxy's).
cat > "$PGDATA/pg_hba.conf" <<'CONF'
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
host    all   all   0.0.0.0/0     scram-sha-256
host    all   all   ::/0          scram-sha-256
CONF

su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start >/dev/null"
su postgres -c "psql -v ON_ERROR_STOP=1 -q -d postgres" <<'SQL'
CREATE ROLE identity LOGIN PASSWORD 'identity';
CREATE DATABASE identity OWNER identity;
SQL
su postgres -c "psql -v ON_ERROR_STOP=1 -q -U identity -d identity -f /docker-build/schema.sql"
su postgres -c "psql -v ON_ERROR_STOP=1 -q -U identity -d identity -c \"\\copy users (name, kind, password_hash) FROM '/docker-build/users.tsv'\""
su postgres -c "psql -q -U identity -d identity -c 'VACUUM ANALYZE'"
su postgres -c "psql -q -U identity -d identity -Atc \"SELECT 'seeded: ' || (SELECT count(*) FROM users) || ' users'\""
su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop >/dev/null"
rm -rf /docker-build
