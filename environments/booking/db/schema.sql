-- Booking schema. Times of slots are local office time (Europe/Berlin), without time zone.

CREATE TABLE offices (
    id             integer PRIMARY KEY,
    name           text    NOT NULL,
    address        text    NOT NULL,
    counters       integer NOT NULL CHECK (counters > 0),
    opening_hours  text    NOT NULL
);

-- One bookable 10-minute appointment at one counter of one office.
CREATE TABLE slots (
    id            integer   PRIMARY KEY,
    office_id     integer   NOT NULL REFERENCES offices (id),
    counter       integer   NOT NULL,
    starts_at     timestamp NOT NULL,
    duration_min  integer   NOT NULL DEFAULT 10,
    UNIQUE (office_id, counter, starts_at)
);
CREATE INDEX slots_office_time ON slots (office_id, starts_at, counter);

-- A short reservation of a slot while the citizen confirms (POST /holds, then POST /bookings).
-- A hold blocks its slot until it expires or becomes a booking.
CREATE TABLE holds (
    id          text        PRIMARY KEY,
    slot_id     integer     NOT NULL REFERENCES slots (id),
    citizen     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    booking_id  bigint,
    node        text
);
CREATE INDEX holds_open_by_slot ON holds (slot_id) WHERE booking_id IS NULL;

CREATE TABLE bookings (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slot_id       integer     NOT NULL REFERENCES slots (id),
    citizen       text        NOT NULL,
    hold_id       text        UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    node          text
);
CREATE INDEX bookings_by_slot ON bookings (slot_id);
-- The promise of the service: never two active bookings of one slot, enforced by the database.
-- The defect switch BOOKING=no-unique drops exactly this index when the container starts.
CREATE UNIQUE INDEX bookings_one_active_per_slot ON bookings (slot_id) WHERE cancelled_at IS NULL;
