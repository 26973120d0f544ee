"""Config parity: does the new landscape run with the old one's settings — or a service after a
change with its settings before? Judged from the ``config`` records of the timeline (what testinfra
read inside the containers, :mod:`drillkit.stack.config`), never from the Compose file.

The reference is the first node of ``old`` (replica order); every other node compared is named
with the settings where it differs, so a drift is named before a load finds it (SCENARIOS.md,
incident 1: "configuration carried over and tested"; new logins failed days later)::

    config parity: 1 setting differs — pool size: old 20, new 4 (app vs app-new)

``at``: ``before`` (both read at the end of the steady state, before the first fault: old and new
side by side before a cutover), ``after`` (both read at verify), ``across`` (old before, new after:
the same service before and after a change, node by node). Unreadable on one side only counts as a
difference; unreadable on both is not measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.timeline import Timeline

__all__ = ["config_parity", "MOMENTS", "moments_needed"]

MOMENTS = ("before", "after", "across")
_WHEN = {"before": "before the change", "after": "after the change", "across": "before vs after the change"}


def moments_needed(old: str, new: str | None, at: str | None) -> dict[str, tuple[str, ...]]:
    """Which services must be read at which moment: {"before": (...), "after": (...)}."""
    new = new or old
    at = at or ("across" if new == old else "before")
    if at == "before":
        return {"before": tuple(dict.fromkeys((old, new)))}
    if at == "after":
        return {"after": tuple(dict.fromkeys((old, new)))}
    return {"before": (old,), "after": (new,)}


def _readings(tl: "Timeline", service: str, moment: str) -> dict[str, dict[str, Any]]:
    """node -> its last ``config`` record of ``service`` at ``moment`` (replica order kept)."""
    out: dict[str, dict[str, Any]] = {}
    for r in tl.records:
        if r.get("kind") == "config" and r.get("service") == service and r.get("moment") == moment:
            out[r["node"]] = r
    return dict(sorted(out.items(), key=lambda kv: _replica(kv[0])))


def _replica(node: str) -> tuple[str, int]:
    head, _, tail = node.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (node, 0)


def _show(record: dict[str, Any], name: str) -> str | None:
    if name in (record.get("settings") or {}):
        return str(record["settings"][name])
    if name in (record.get("errors") or {}):
        return f"unreadable ({record['errors'][name]})"
    return None


@judges("config_parity")
def config_parity(tl: "Timeline", old: str, new: str | None = None, *, at: str | None = None,
                  settings: list[str] | tuple[str, ...] | None = None, max: int = 0) -> Verdict:
    """Settings that differ between ``old`` and ``new`` (see the module doc), ≤ ``max``."""
    new = new or old
    at = at or ("across" if new == old else "before")
    if at not in MOMENTS:
        raise ValueError(f"at must be one of {', '.join(MOMENTS)}, not {at!r}")
    when = _WHEN[at]
    same = new == old
    pair = f"{old} vs {new}" if not same else old
    old_moment = "after" if at == "after" else "before"
    new_moment = "before" if at == "before" else "after"
    olds, news = _readings(tl, old, old_moment), _readings(tl, new, new_moment)
    missing = [f"{s} ({m})" for s, m, rs in ((old, old_moment, olds), (new, new_moment, news)) if not rs]
    if missing:
        return Verdict("config parity", UNKNOWN, f"config parity: not measured — no readings of "
                       f"{' and '.join(dict.fromkeys(missing))} {when}", target=f"≤ {max} settings differ",
                       details={"old": old, "new": new, "at": at})
    # the pairs compared: (reference record, other record, label of the pair)
    pairs: list[tuple[dict, dict]] = []
    if same and at == "across":
        for node, before in olds.items():
            if node in news:
                pairs.append((before, news[node]))
    else:
        ref = next(iter(olds.values()))
        others = [r for r in (*olds.values(), *news.values()) if r is not ref]
        pairs = [(ref, r) for r in others]
    if not pairs:
        return Verdict("config parity", UNKNOWN, f"config parity: not measured — no node of {new} to compare "
                       f"{when}", target=f"≤ {max} settings differ", details={"old": old, "new": new, "at": at})
    names = list(settings) if settings else list(dict.fromkeys(
        n for a, b in pairs for rec in (a, b) for n in (*(rec.get("settings") or {}), *(rec.get("errors") or {}))))
    differs: dict[str, dict[str, Any]] = {}       # setting -> {"old": v, "new": {value: [nodes]}}
    unread: list[str] = []
    agree: list[str] = []
    for name in names:
        seen = False
        for a, b in pairs:
            va, vb = _show(a, name), _show(b, name)
            if va is None and vb is None:
                continue
            ea, eb = name in (a.get("errors") or {}), name in (b.get("errors") or {})
            if ea and eb:
                unread.append(name)
                continue
            seen = True
            if va != vb:
                d = differs.setdefault(name, {"old": va, "old_node": a["node"], "new": {}})
                d["new"].setdefault(vb, []).append(b["node"])
        if seen and name not in differs:
            agree.append(name)
    unread = list(dict.fromkeys(n for n in unread if n not in differs and n not in agree))
    details: dict[str, Any] = {"old": old, "new": new, "at": at, "agree": agree, "unread": unread,
                               "differs": {n: {"old": d["old"], "old_node": d["old_node"], "new": d["new"]}
                                           for n, d in differs.items()},
                               "read_at": sorted({r["t"] for recs in (olds, news) for r in recs.values()})[:1]}
    if differs:
        parts = []
        for name, d in differs.items():
            for value, nodes in d["new"].items():
                if same and at != "across":     # replicas of one service against its first
                    parts.append(f"{name}: {d['old_node']} {d['old']}, {', '.join(nodes)} {value}")
                else:
                    who = pair if not same else f"{', '.join(nodes)}, {when}"
                    parts.append(f"{name}: old {d['old']}, new {value} ({who})")
        n = len(differs)
        sentence = f"config parity: {n} setting{'s' if n != 1 else ''} differ{'s' if n == 1 else ''} — " + \
            "; ".join(parts)
        status = FAIL if n > max else PASS
        return Verdict("config parity", status, sentence, value=n, target=f"≤ {max} settings differ",
                       details=details)
    if not agree:
        return Verdict("config parity", UNKNOWN, f"config parity: not measured — "
                       f"{', '.join(unread) or 'no setting'} could not be read on either side ({pair}, {when})",
                       target=f"≤ {max} settings differ", details=details)
    tail = f"; not read on either side: {', '.join(unread)}" if unread else ""
    return Verdict("config parity", PASS, f"config parity: {len(agree)} setting{'s' if len(agree) != 1 else ''} "
                   f"agree ({pair}, {when}){tail}", value=0, target=f"≤ {max} settings differ", details=details)
