"""Identity app: the central login (BundID/eID) of the March 2023 surge.

One process, Python stdlib HTTP server + psycopg2. JSON in, JSON out; every response carries
``X-Drillkit-Node`` so a drill knows which replica answered.

    GET  /health                  200 {"status":"ok",...,"pool":{...}} | 503 {"status":"unavailable",...}
    GET  /version                 200 {"service","version","node"}
    POST /login      {"user","password"}
                                  200 {"token","user","kind","expires_in","node"} | 400 | 401
    GET  /tokens/<token>          200 {"user","kind","expires_at"} | 404 (unknown or expired)
    POST /pin-reset  {"user"}     202 {"request_id","user","status":"queued"} | 400 | 404 (no such user)

A login is deliberately CPU-costly: the password is checked with PBKDF2-SHA256
(hashlib.pbkdf2_hmac, HASH_ITERATIONS, default 30000: about 40 ms on the lab machine), then one
database write records the attempt (table `logins`; a successful row carries the token, which is how
GET /tokens validates it on any replica). A user's stored hash is re-hashed once when HASH_ITERATIONS
differs from the iterations it was stored with. Unknown users cost the same hash (no user probing by
timing). Like many web stacks, a request holds its pool connection for the whole request, hash
included.

Switch (environment):
  DB_POOL=timeout     a request waits at most DB_POOL_TIMEOUT (default 2 s) for one of the
                      DB_POOL_SIZE (default 4) connections of this node, then gets a 503 at once.
  DB_POOL=no-timeout  the defect: it waits forever. Under a surge the requests (and threads) pile up,
                      clients give up, and the node keeps working off requests nobody waits for: it
                      does not slow down, it goes KO.

Other settings: HASH_ITERATIONS, TOKEN_TTL (s, default 3600), DB_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASSWORD, PORT, APP_VERSION, DRILLKIT_NODE, LOG_REQUESTS.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from service import (
    NODE,
    VERSION,
    App,
    HealthProbe,
    HttpError,
    Pool,
    db_settings,
    env_choice,
    env_number,
    serve,
    str_field,
)

HASH_ITERATIONS = env_number("HASH_ITERATIONS", 30000, 1, int)
DB_POOL = env_choice("DB_POOL", "timeout", ("timeout", "no-timeout"))
TOKEN_TTL = env_number("TOKEN_TTL", 3600, 1, int)

SETTINGS = db_settings("identity")
POOL = Pool(SETTINGS, size=env_number("DB_POOL_SIZE", 4, 1, int),
            wait=None if DB_POOL == "no-timeout" else env_number("DB_POOL_TIMEOUT", 2, 0))
HEALTH = HealthProbe(SETTINGS)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
app = App("identity")


# --- passwords ---------------------------------------------------------------------------------
def make_hash(password: str, iterations: int) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> tuple[bool, int]:
    """(matches, iterations the stored hash uses). A malformed stored hash never matches."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        iterations = int(iterations)
        salt, expected = bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        return False, 0
    if scheme != "pbkdf2_sha256" or iterations < 1:
        return False, 0
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return hmac.compare_digest(actual, expected), iterations


# Unknown users get the same work as known ones.
DUMMY_HASH = make_hash(secrets.token_hex(8), HASH_ITERATIONS)


# --- routes ------------------------------------------------------------------------------------
@app.route("GET", "/health")
def health(request):
    problem = HEALTH.check()
    body = {"status": "ok" if problem is None else "unavailable", "node": NODE, "version": VERSION,
            "db_pool": DB_POOL, "hash_iterations": HASH_ITERATIONS, "db": problem or "ok",
            "pool": POOL.stats()}
    return (200 if problem is None else 503), body


@app.route("GET", "/version")
def version(request):
    return 200, {"service": "identity", "version": VERSION, "node": NODE}


@app.route("POST", "/login")
def login(request):
    body = request.json()
    user = str_field(body, "user", max_len=100)
    password = str_field(body, "password", max_len=1024)
    with POOL.transaction() as cur:
        cur.execute("SELECT kind, password_hash FROM users WHERE name = %s", (user,))
        row = cur.fetchone()
        kind, stored = row if row else (None, DUMMY_HASH)
        matches, iterations = check_password(password, stored)
        ok = row is not None and matches
        token = secrets.token_urlsafe(24) if ok else None
        cur.execute("""INSERT INTO logins (user_name, ok, token, expires_at, node)
                       VALUES (%s, %s, %s, CASE WHEN %s THEN now() + make_interval(secs => %s) END, %s)""",
                    (user, ok, token, ok, TOKEN_TTL, NODE))
        if ok and iterations != HASH_ITERATIONS:
            cur.execute("UPDATE users SET password_hash = %s WHERE name = %s",
                        (make_hash(password, HASH_ITERATIONS), user))
    if not ok:      # after the commit: the failed attempt is in the audit
        raise HttpError(401, "invalid user or password")
    return 200, {"token": token, "user": user, "kind": kind, "expires_in": TOKEN_TTL, "node": NODE}


@app.route("GET", r"/tokens/(?P<token>[^/]*)")
def validate_token(request, token):
    if not TOKEN_RE.fullmatch(token):
        raise HttpError(404, "unknown or expired token")
    with POOL.transaction() as cur:
        cur.execute("""SELECT l.user_name, u.kind, l.expires_at FROM logins l
                       JOIN users u ON u.name = l.user_name
                       WHERE l.token = %s AND l.expires_at > now()""", (token,))
        row = cur.fetchone()
    if row is None:
        raise HttpError(404, "unknown or expired token")
    return 200, {"user": row[0], "kind": row[1], "expires_at": row[2]}


@app.route("POST", "/pin-reset")
def pin_reset(request):
    body = request.json()
    user = str_field(body, "user", max_len=100)
    with POOL.transaction() as cur:
        cur.execute("""INSERT INTO pin_resets (user_name, node)
                       SELECT name, %s FROM users WHERE name = %s RETURNING id""", (NODE, user))
        row = cur.fetchone()
    if row is None:
        raise HttpError(404, "no such user", user=user)
    return 202, {"request_id": row[0], "user": user, "status": "queued"}


if __name__ == "__main__":
    serve(app, f"DB_POOL={DB_POOL} HASH_ITERATIONS={HASH_ITERATIONS} pool size {POOL.size}")
