#!/bin/sh
# Starts PostgreSQL in the foreground. With the defect switch BOOKING=no-unique the unique index that
# forbids two active bookings of one slot is dropped first (single-user mode, before any client can
# connect), so the database no longer stops a double booking.
set -eu
if [ "${BOOKING:-unique}" = "no-unique" ]; then
    echo "DROP INDEX IF EXISTS bookings_one_active_per_slot;" \
        | postgres --single -D "$PGDATA" -c exit_on_error=true booking >/dev/null
    echo "booking-db: BOOKING=no-unique, unique index bookings_one_active_per_slot dropped" >&2
fi
exec postgres -D "$PGDATA"
