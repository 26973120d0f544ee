#!/bin/sh
# One Patroni node: writes /etc/patroni.yml from the environment, then runs Patroni as postgres.
#   REPLICATION=sync   synchronous_mode + synchronous_mode_strict: a commit returns once a standby
#                      has it, and only that standby may be promoted (no acknowledged write lost)
#   REPLICATION=async  DEFECT: commits return at once; a failover loses what the replicas lacked
# Timeouts are short so that a failover takes ~10-15 s (a drill stays under a minute): the leader
# key lives 10 s (ttl), Patroni loops every 2 s.
set -e
NAME=$(hostname)
case "${REPLICATION:-sync}" in
  sync) SYNC=true ;;
  async) SYNC=false ;;
  *) echo "patroni-node: REPLICATION must be sync or async, not '$REPLICATION'" >&2; exit 2 ;;
esac
mkdir -p /var/lib/postgresql/patroni /run/postgresql
chown postgres:postgres /var/lib/postgresql/patroni /run/postgresql
cat > /etc/patroni.yml <<YAML
scope: drill
name: $NAME
restapi: {listen: "0.0.0.0:8008", connect_address: "$NAME:8008"}
etcd3: {hosts: "etcd:2379"}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 16777216
    synchronous_mode: $SYNC
    synchronous_mode_strict: $SYNC
    postgresql:
      use_pg_rewind: true
      remove_data_directory_on_rewind_failure: true
      parameters: {wal_keep_size: 128MB, max_wal_senders: 10, max_replication_slots: 10}
  initdb: [{encoding: UTF8}, data-checksums]
  post_bootstrap: /usr/local/bin/post-bootstrap.sh
postgresql:
  listen: "0.0.0.0:5432"
  connect_address: "$NAME:5432"
  data_dir: /var/lib/postgresql/patroni/data
  pgpass: /var/lib/postgresql/patroni/pgpass
  basebackup: [{checkpoint: fast}]      # a standby's copy starts at once, not after a spread checkpoint
  bin_dir: /usr/lib/postgresql/15/bin
  authentication:
    superuser: {username: postgres, password: drill}
    replication: {username: replicator, password: drill}
  pg_hba:
    - local all all trust
    - host replication replicator 0.0.0.0/0 scram-sha-256
    - host all all 0.0.0.0/0 scram-sha-256
YAML
chmod 0644 /etc/patroni.yml
export HOME=/var/lib/postgresql
exec setpriv --reuid=postgres --regid=postgres --init-groups patroni /etc/patroni.yml
