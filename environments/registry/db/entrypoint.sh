#!/bin/sh
# One image, two roles (ROLE): the primary `db` and the hot standby `db-replica`. Both start from the
# same cluster baked at build time (same system identifier, same last checkpoint), so the standby
# streams from the primary at once, without a base backup at start-up.
#   ROLE=primary  REPLICATION=sync (default): synchronous_standby_names = db_replica,
#                 synchronous_commit = on -> a commit is acknowledged once the standby has it.
#                 REPLICATION=async (DEFECT): no synchronous standby -> acknowledged commits can be
#                 missing on the standby when the primary dies.
#   ROLE=replica  standby.signal, primary_conninfo to db:$PRIMARY_PORT (5432; 5433 = the Toxiproxy link
#                 `replication` in the lab), the baked slot db_replica.
#                 After promotion (the runbook writes $PGDATA/drillkit-promoted) it starts as a
#                 primary again, never as a standby of the old one.
set -eu
case "${ROLE:-primary}" in
    primary)
        case "${REPLICATION:-sync}" in
            sync)  set -- -c synchronous_standby_names=db_replica -c synchronous_commit=on ;;
            async) set -- -c synchronous_standby_names= -c synchronous_commit=on ;;
            *) echo "db-entrypoint: REPLICATION must be 'sync' or 'async', not '${REPLICATION}'" >&2; exit 64 ;;
        esac
        echo "db-entrypoint: primary, REPLICATION=${REPLICATION:-sync}"
        ;;
    replica)
        if [ ! -e "$PGDATA/drillkit-promoted" ]; then
            rm -rf "$PGDATA"/pg_replslot/*     # the primary's slot is the primary's, not ours
            touch "$PGDATA/standby.signal"
            echo "db-entrypoint: hot standby of db (slot db_replica)"
        else
            echo "db-entrypoint: promoted earlier, starting as a primary"
        fi
        set -- -c "primary_conninfo=host=db port=${PRIMARY_PORT:-5432} user=replicator password=replicator application_name=db_replica connect_timeout=2 keepalives_idle=5 keepalives_interval=2 keepalives_count=2" \
               -c primary_slot_name=db_replica -c hot_standby=on -c hot_standby_feedback=on \
               -c wal_receiver_status_interval=1s -c wal_retrieve_retry_interval=1s \
               -c synchronous_standby_names=
        ;;
    *) echo "db-entrypoint: ROLE must be 'primary' or 'replica', not '${ROLE}'" >&2; exit 64 ;;
esac
exec postgres -D "$PGDATA" "$@"
