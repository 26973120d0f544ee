#!/bin/sh
# Runs once during `docker build`: initdb, configuration, schema and seed data.
set -eu
install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /run/postgresql
su postgres -c "initdb -D '$PGDATA' --username=postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null"

cat >> "$PGDATA/postgresql.conf" <<'CONF'
# --- drillkit registry lab ---
listen_addresses = '*'
port = 5432
max_connections = 100
shared_buffers = 32MB
unix_socket_directories = '/run/postgresql'
log_destination = 'stderr'
logging_collector = off
log_connections = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
# Durability stays at the defaults (fsync, synchronous_commit on): drills check that acknowledged
# writes survive a database restart.
# Streaming replication to db-replica (same image, ROLE=replica; see entrypoint.sh). Whether the
# standby is synchronous is chosen at start (REPLICATION switch), not here.
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
wal_keep_size = 128MB
wal_sender_timeout = 10s
CONF

# Lab only: any address on the lab network may connect with a password (the app comes through
# Toxiproxy, so its source address is the proxy's).
cat > "$PGDATA/pg_hba.conf" <<'CONF'
local   all           all                       trust
host    all           all          127.0.0.1/32  trust
host    replication   replicator   0.0.0.0/0     scram-sha-256
host    all   all   0.0.0.0/0     scram-sha-256
host    all   all   ::/0          scram-sha-256
CONF

su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start >/dev/null"
su postgres -c "psql -v ON_ERROR_STOP=1 -q -d postgres" <<'SQL'
CREATE ROLE registry LOGIN PASSWORD 'registry';
CREATE DATABASE registry OWNER registry;
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'replicator';
-- The standby's slot, baked in: the primary keeps every WAL segment the standby has not received,
-- from the very first start on.
SELECT 'slot: ' || slot_name FROM pg_create_physical_replication_slot('db_replica', true);
SQL
su postgres -c "psql -v ON_ERROR_STOP=1 -q -U registry -d registry -f /docker-build/schema.sql"
su postgres -c "psql -v ON_ERROR_STOP=1 -q -U registry -d registry -f /docker-build/seed.sql"
su postgres -c "psql -q -U registry -d registry -Atc \"SELECT 'seeded: ' || (SELECT count(*) FROM clerks) || ' clerks, ' || (SELECT count(*) FROM residents) || ' residents'\""
su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop >/dev/null"
rm -rf /docker-build
