"""A pytest plug-in for the load drills' tests until phase 2 lands: the user kinds the booking and
identity drills name — ``citizens`` (booking) and ``new-logins`` (identity) — added as data to those
environments when their Compose files do not declare them yet. Once they do, this adds nothing.

Used as ``pytest -p shipped_kinds`` (tests/lab on the path); the drills themselves only name kinds.
"""

from __future__ import annotations

import yaml

KINDS = yaml.safe_load("""
booking:
  citizens:                        # list free slots of a random office and day, hold one, book it
    population: citizens
    timeout: 5s
    user: "citizen-{i:04d}"
    sequence:
      - name: GET /offices/{id}/slots
        path: "/offices/{random:1..4}/slots?date=2026-0{random:1..3}-{random:10..28}&limit=20"
        save: {slot: "body.slots[random].id"}
      - {name: POST /holds, method: POST, path: /holds, body: {slot_id: "{slot}", citizen: "{user}"},
         expect: [201, 409], save: {hold: body.hold_id}}
      - name: POST /bookings
        method: POST
        path: /bookings
        body: {hold_id: "{hold}"}
        expect: [200, 201, 409, 410]
        write: {id: body.id, op: booking, ledger: bookings, statuses: [201], attrs: {slot: body.slot_id}}
identity:
  new-logins:                      # a new login every time (eID: every citizen comes once), then its token checked
    user: "citizen-{i:04d}"
    timeout: 5s
    login: {path: /login, body: {user: "{user}", password: drill}, token: body.token, every_iteration: true,
            expect: [200]}
    steps:
      - {name: "GET /tokens/{token}", path: "/tokens/{token}"}
""")


def add_kinds(spec):
    from drillkit.clients.declare import parse_user_kind
    for name, raw in (KINDS.get(spec.stack) or {}).items():
        if name not in spec.users:
            spec.users[name] = parse_user_kind(name, raw, file=__file__, where=f"users.{name}")
    return spec


def pytest_configure(config):
    import drillkit.lab.compose as compose
    if getattr(compose.load_environment, "_shipped_kinds", False):
        return
    original = compose.load_environment

    def load_environment(*args, **kwargs):
        return add_kinds(original(*args, **kwargs))

    load_environment._shipped_kinds = True
    compose.load_environment = load_environment
