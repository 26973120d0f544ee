#!/bin/sh
# Runs HAProxy in the foreground. REPLICA_ALIASES=yes (the lab, default): the servers app-<n> are the
# lab's per-replica aliases. REPLICA_ALIASES=no (plain docker-compose, which has no such names): every
# server resolves the service name instead; HAProxy's resolver gives servers sharing a name distinct
# addresses, so the replicas are still spread over the servers.
set -eu
cfg=/etc/haproxy/haproxy.cfg
case "${REPLICA_ALIASES:-yes}" in
    yes) ;;
    no) sed -E 's/^([[:space:]]*server[[:space:]]+)([a-z][a-z0-9-]*)-([0-9]+)([[:space:]]+)\2-\3:/\1\2-\3\4\2:/' \
            "$cfg" > /tmp/haproxy-service-names.cfg; cfg=/tmp/haproxy-service-names.cfg ;;
    *) echo "lb-entrypoint: REPLICA_ALIASES must be 'yes' or 'no', not '${REPLICA_ALIASES}'" >&2; exit 64 ;;
esac
echo "lb-entrypoint: REPLICA_ALIASES=${REPLICA_ALIASES:-yes} ($cfg)"
exec haproxy -W -db -f "$cfg" "$@"
