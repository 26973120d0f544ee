#!/bin/sh
# Run once by Patroni on the node that initialized the cluster: the drill's database and table.
# $1 is Patroni's connection URL for the superuser.
set -e
psql -X -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
CREATE ROLE drill LOGIN PASSWORD 'drill';
CREATE DATABASE drill OWNER drill;
\connect drill
CREATE TABLE writes (id uuid PRIMARY KEY, writer text NOT NULL, at timestamptz NOT NULL DEFAULT now());
ALTER TABLE writes OWNER TO drill;
SQL
