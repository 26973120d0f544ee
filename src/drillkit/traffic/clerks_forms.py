"""Clerks who register moves through the registry's 3-step form (SCENARIOS.md, incident 4: users in the
middle of a multi-step form while nodes are upgraded must not lose what they entered).

A FormClerk does one form action per unit of work, so the pool's think time falls between the steps
and a fault or an upgrade can land mid-form:

    POST /moves/drafts -> PUT .../step/1 -> PUT .../step/2 -> PUT .../step/3 -> POST .../submit

Every action is a probe of the ``existing-sessions`` population; a submitted move is a ``write`` (the
ledger). A draft that answered before and is 404/410 later is a **draft lost** (``drafts_lost``,
probe ``session="draft-lost"``); a 401 on a session that worked is a session lost, as for Clerk.
"""

from __future__ import annotations

import random

from drillkit.timeline import Timeline
from drillkit.traffic.users import EXISTING, Clerk, UserPool

__all__ = ["FormClerk", "form_clerks"]


class FormClerk(Clerk):
    """A clerk who walks the 3-step move form, one step per unit of work."""

    def __post_init__(self):
        super().__post_init__()
        self.draft_id: str | None = None
        self.step = 0
        self.drafts_lost = 0
        self.forms_done = 0

    def _step_body(self, n: int) -> dict:
        if n == 1:
            return {"resident_id": self.rng.randint(1, self.residents)}
        if n == 2:
            return {"new_address": f"Formweg {self._ops}, {self.name}"}
        return {"move_date": f"2025-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
                "confirmation": True}

    def work(self) -> None:
        tl = self.timeline
        self._ops += 1
        t = tl.now()
        if self.draft_id is None:
            op = "POST /moves/drafts"
            r = self.http.request("POST", "/moves/drafts")
        elif self.step < 3:
            op = "PUT /moves/drafts/{id}/step/{n}"
            r = self.http.request("PUT", f"/moves/drafts/{self.draft_id}/step/{self.step + 1}",
                                  self._step_body(self.step + 1))
        else:
            op = "POST /moves/drafts/{id}/submit"
            r = self.http.request("POST", f"/moves/drafts/{self.draft_id}/submit")
        if r.status == 401 and self.had_session:
            self.sessions_lost += 1
            self._record(EXISTING, op, t, r, session="rejected")
            self.http.token = None
            self.draft_id, self.step = None, 0
            return
        if r.status in (404, 410) and self.draft_id is not None:
            self.drafts_lost += 1
            self._record(EXISTING, op, t, r, session="draft-lost")
            tl.note(f"{self.name}: draft {self.draft_id} lost at step {self.step + 1} ({r.status})")
            self.draft_id, self.step = None, 0
            return
        body = r.body if isinstance(r.body, dict) else {}
        if op.endswith("submit") and r.status == 409 and "id" in body:
            # submitted before (a retry after a lost answer): the move exists, count it once
            r = type(r)(201, body, r.node, None, r.text)
        self._record(EXISTING, op, t, r, session="valid" if r.ok else "none")
        if not r.ok:
            return
        if self.draft_id is None:
            self.draft_id, self.step = body.get("draft_id"), 0
        elif self.step < 3:
            self.step += 1
        else:
            if "id" in body:
                self.ledger.append((str(body["id"]), tl.now()))
                tl.write(client=self.name, id=str(body["id"]), op="move-form")
            self.forms_done += 1
            self.draft_id, self.step = None, 0


def form_clerks(base_url: str, timeline: Timeline, count: int = 8, *, seed: int = 0, first: int = 101,
                think: float = 0.3, timeout: float = 2.0, max_duration: float = 900.0) -> UserPool:
    """`count` form clerks clerk-101… (seeded, reproducible); their pool starts them logged in."""
    return UserPool(lambda i: FormClerk(f"clerk-{first + i:03d}", base_url, timeline,
                                        random.Random(seed * 1000 + i), timeout=timeout), count,
                    think=think, max_duration=max_duration)
