-- Identity schema: the central login (BundID/eID) on which new sessions of the other services depend.

CREATE TABLE users (
    name           text        PRIMARY KEY,
    kind           text        NOT NULL CHECK (kind IN ('citizen', 'clerk')),
    -- pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>
    password_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Login audit: one row per attempt; a successful one carries the token relying services validate.
CREATE TABLE logins (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name   text        NOT NULL,
    ok          boolean     NOT NULL,
    token       text        UNIQUE,
    at          timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    node        text
);

-- Replacement-PIN requests (the 600,000 of the March 2023 surge).
CREATE TABLE pin_resets (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name     text        NOT NULL REFERENCES users (name),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    node          text
);
