#!/bin/sh
# Runs once during `docker build`: initdb, access rules, the schema (sessions and notes).
set -eu
install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /run/postgresql
su postgres -c "initdb -D '$PGDATA' -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null"
cat >> "$PGDATA/postgresql.conf" <<'CONF'
listen_addresses = '*'
max_connections = 100
shared_buffers = 32MB
unix_socket_directories = '/run/postgresql'
CONF
cat > "$PGDATA/pg_hba.conf" <<'CONF'
local all all trust
host  all all 127.0.0.1/32 trust
host  all all 0.0.0.0/0 scram-sha-256
CONF
su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start >/dev/null"
su postgres -c "psql -v ON_ERROR_STOP=1 -q" <<'SQL'
CREATE ROLE changelab LOGIN PASSWORD 'changelab';
CREATE DATABASE changelab OWNER changelab;
\c changelab changelab
CREATE TABLE sessions (token text PRIMARY KEY, username text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE items (id int PRIMARY KEY, title text NOT NULL);
INSERT INTO items SELECT g, 'Item ' || g FROM generate_series(1, 200) g;
CREATE TABLE notes (id text PRIMARY KEY, username text NOT NULL, body text NOT NULL, node text,
                    created_at timestamptz NOT NULL DEFAULT now());
SQL
su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop >/dev/null"
