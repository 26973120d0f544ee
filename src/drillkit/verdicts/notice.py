"""What users saw while the service was down: the disruption notice, or a browser error.

The service standard asks to *show users that there is a disruption*; a connection error or a
timeout tells them nothing.
"""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.spans import fault_spans, percent, within

__all__ = ["disruption_notice", "NOTICE_MINIMUM"]

NOTICE_MINIMUM = 0.95


def _kind(r: dict) -> str:
    if r.get("notice"):
        return "notice"
    if r.get("status") is None:
        return "timeout" if "timeout" in str(r.get("error") or "").lower() else "connection"
    return "http"


_WORDS = {"connection": "got connection errors", "timeout": "timed out",
          "http": "got an HTTP error without the notice"}


@judges("disruption_notice")
def disruption_notice(tl: Timeline, population: str = "probe", *,
                      minimum: float = NOTICE_MINIMUM) -> Verdict:
    """Of the failed requests of ``population`` sent during a fault window, the share that got the
    disruption notice page (``notice: true``); pass at ≥ 95%. The rest is split into connection
    errors, timeouts (no HTTP answer) and HTTP errors without the notice.

    Unknown without a fault or when nothing failed during one.

    Sentence: ``when the service was down, 98% of failed requests showed the disruption notice (2% got
    connection errors)`` — the parenthesis lists only what occurred.
    """
    name = "disruption notice"
    target = f"≥ {percent(minimum)}"
    spans = fault_spans(tl)
    if not spans:
        return Verdict(name, UNKNOWN, "disruption notice unknown: no fault on the timeline",
                       unit="ratio", target=target)
    failed = [r for r in within(tl.probes(population), spans) if not r["ok"]]
    if not failed:
        return Verdict(name, UNKNOWN,
                       f"disruption notice unknown: no {population} request failed during the fault",
                       unit="ratio", target=target)
    counts = {k: 0 for k in ("notice", "connection", "timeout", "http")}
    for r in failed:
        counts[_kind(r)] += 1
    n = len(failed)
    share = counts["notice"] / n
    rest = [f"{percent(counts[k] / n)} {_WORDS[k]}" for k in ("connection", "timeout", "http") if counts[k]]
    return Verdict(name, PASS if share >= minimum else FAIL,
                   f"when the service was down, {percent(share)} of failed requests showed the "
                   f"disruption notice" + (f" ({', '.join(rest)})" if rest else ""),
                   value=round(share, 4), unit="ratio", target=target,
                   details={"failed": n, **counts,
                            "statuses": sorted({r.get("status") for r in failed if r.get("status")})})
