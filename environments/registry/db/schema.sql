-- Registry schema (v1). Later versions add columns/tables; keep changes additive.

CREATE TABLE clerks (
    username      text PRIMARY KEY,              -- clerk-001 .. clerk-200
    display_name  text NOT NULL,
    office        text NOT NULL,                 -- Bürgerbüro
    password_hash text NOT NULL                  -- "sha256$<salt>$<hex(sha256(salt:password))>"
);

CREATE TABLE residents (
    id           integer PRIMARY KEY,
    family_name  text NOT NULL,
    given_name   text NOT NULL,
    birth_date   date NOT NULL,
    address      text NOT NULL,                  -- current address; a move updates it
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residents_family_name_idx ON residents (lower(family_name));

CREATE TABLE moves (
    id           bigserial PRIMARY KEY,
    resident_id  integer NOT NULL REFERENCES residents (id),
    new_address  text NOT NULL,
    clerk        text NOT NULL REFERENCES clerks (username),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moves_resident_idx ON moves (resident_id);
