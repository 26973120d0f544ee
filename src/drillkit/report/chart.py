"""One picture of a drill, computed from its timeline: availability per population over time (top) and
the latency of every probe (bottom), with fault windows shaded and phase boundaries marked.

What the verdicts measured (their ``verdict`` records on the timeline) is drawn too: the instant the
last user was back (recovery time), and the span in which the writes that were later lost had been
acknowledged. A verdict that measured nothing (no outage seen, not recovered, unknown) draws nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drillkit.timeline import Timeline

__all__ = ["render_timeline_chart", "bin_width", "availability_series", "latency_p95_series", "verdict_marks",
           "Mark"]

_MIN_BIN = 0.25
_BINS = 200
_FAULT_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
_PHASE_TITLES = {"steady": "steady state", "inject": "inject", "observe": "observe",
                 "recover": "recover", "verify": "verify"}


def bin_width(duration: float) -> float:
    """Width of one time bin in seconds: about 200 bins per drill, never narrower than 0.25 s."""
    return max(_MIN_BIN, duration / _BINS)


def _bins(duration: float) -> tuple[float, int]:
    width = bin_width(duration)
    return width, max(1, math.ceil(duration / width))


def availability_series(probes: list[dict[str, Any]], duration: float
                        ) -> tuple[list[float], list[float]]:
    """(bin centres, success ratio in percent) for bins that hold at least one probe."""
    width, count = _bins(duration)
    ok = [0] * count
    total = [0] * count
    for p in probes:
        i = min(count - 1, max(0, int(p["t"] // width)))
        total[i] += 1
        ok[i] += bool(p.get("ok"))
    xs = [(i + 0.5) * width for i in range(count) if total[i]]
    ys = [100.0 * ok[i] / total[i] for i in range(count) if total[i]]
    return xs, ys


def latency_p95_series(probes: list[dict[str, Any]], duration: float
                       ) -> tuple[list[float], list[float]]:
    """(bin centres, 95th percentile latency in ms) per bin, over all probes with a latency."""
    width, count = _bins(duration)
    per_bin: list[list[float]] = [[] for _ in range(count)]
    for p in probes:
        latency = p.get("latency")
        if latency is None:
            continue
        i = min(count - 1, max(0, int(p["t"] // width)))
        per_bin[i].append(latency * 1000.0)
    xs, ys = [], []
    for i, values in enumerate(per_bin):
        if values:
            values.sort()
            xs.append((i + 0.5) * width)
            ys.append(values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)])
    return xs, ys


@dataclass(frozen=True)
class Mark:
    """Something a verdict measured, to draw: an instant (``end`` None) or a span of the drill."""

    what: str            # "recovered" | "lost-writes"
    start: float
    end: float | None
    label: str


def verdict_marks(timeline: "Timeline") -> list[Mark]:
    """Marks from the timeline's ``verdict`` records: the last user back of each measured recovery
    time, the acknowledgement span of lost writes. Unmeasured verdicts give none."""
    marks: list[Mark] = []
    for v in timeline.of("verdict"):
        d = v.get("details") or {}
        if v.get("key") == "recovery_time" and v.get("value") is not None and d.get("last_back_at") is not None:
            pop = d.get("population", "")
            marks.append(Mark("recovered", d["last_back_at"], None,
                              f"last user back: {v['value']:.1f} s ({pop})"))
        elif v.get("key") == "writes_lost" and v.get("value") and d.get("first_lost_t") is not None:
            silent = " — silent" if d.get("silent") else ""
            marks.append(Mark("lost-writes", d["first_lost_t"], d["last_lost_t"],
                              f"{v['value']} lost writes acknowledged here{silent}"))
    return marks


def _fault_label(window) -> str:
    targets = ", ".join(window.targets)
    label = f"{window.fault} → {targets}" if targets else window.fault
    return label if window.end is not None else f"{label} (not healed)"


def _phase_label_rows(phases, x_max: float, axes_width_pt: float = 900.0) -> list[tuple[str, float, int]]:
    """(label, x, row) for each phase, centred in its span; a label that would collide with the one
    before it goes one row up."""
    out: list[tuple[str, float, int]] = []
    last_right = {0: -math.inf, 1: -math.inf}
    pt_per_s = axes_width_pt / x_max
    for i, (name, start, end) in enumerate(phases):
        nxt = phases[i + 1][1] if i + 1 < len(phases) else x_max
        stop = end if end is not None else nxt
        label = _PHASE_TITLES.get(name, name)
        half = 3.0 * len(label) / pt_per_s + 0.002 * x_max  # ≈ half the text width, in seconds
        x = min(max((start + min(stop, x_max)) / 2, half), x_max - half)
        row = 0 if x - half > last_right[0] else 1
        last_right[row] = x + half
        out.append((label, x, row))
    return out


def render_timeline_chart(timeline: "Timeline", path: Path, *, title: str = "") -> Path:
    """Render the drill's chart as a PNG at ``path`` and return the path. Copes with an empty timeline
    and with populations (declared in the header's ``populations``) that have no probes."""
    import matplotlib  # deferred: matplotlib is heavy; only a chart needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: matplotlib is heavy; only a chart needs it
    from matplotlib.figure import Figure  # deferred: matplotlib is heavy; only a chart needs it
    from matplotlib.lines import Line2D  # deferred: matplotlib is heavy; only a chart needs it
    from matplotlib.patches import Patch  # deferred: matplotlib is heavy; only a chart needs it
    from matplotlib.ticker import (  # deferred: matplotlib is heavy; only a chart needs it
        FixedLocator,
        FuncFormatter,
        LogLocator,
        NullFormatter,
    )

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    header = timeline.header
    probes = timeline.probes()
    windows = timeline.fault_windows()
    phases = timeline.phases()
    duration = max(timeline.end, max((w.start for w in windows), default=0.0),
                   max((p[2] or p[1] for p in phases), default=0.0))
    x_max = duration if duration > 0 else 1.0
    populations = sorted(set(timeline.populations()) | set(header.get("populations") or ()))
    width = bin_width(duration)

    title = title or header.get("drill") or "Drill"
    subtitle = " · ".join(b for b in (
        f"run {header['run']}" if header.get("run") else "", str(header.get("started") or ""),
        f"{len(probes)} requests", f"{duration:.1f} s") if b)

    fig = Figure(figsize=(13, 7.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)  # Agg explicitly, whatever backend pyplot uses elsewhere in the process
    ax_av, ax_lat = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.15))
    fig.suptitle(f"{title}\n", fontsize=15, fontweight="bold")
    fig.text(0.5, 0.955, subtitle, ha="center", va="top", fontsize=9, color="#555555")
    legend_kw = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, framealpha=0.95,
                     title_fontsize=8.5, alignment="left")

    # Fault windows: shaded on both axes; an unhealed window runs to the end, hatched.
    fault_handles = []
    for n, w in enumerate(windows):
        colour = _FAULT_COLOURS[n % len(_FAULT_COLOURS)]
        end = w.end if w.end is not None else x_max
        hatch = None if w.end is not None else "//"
        for ax in (ax_av, ax_lat):
            ax.axvspan(w.start, end, facecolor=colour, alpha=0.13, hatch=hatch,
                       edgecolor=colour, linewidth=0, zorder=0)
        ax_av.annotate(_fault_label(w), xy=(w.start, 1.0), xycoords=("data", "axes fraction"),
                       xytext=(3, -3 - 11 * (n % 2)), textcoords="offset points",
                       fontsize=8.5, color=colour, fontweight="bold", va="top", ha="left",
                       annotation_clip=False)
        fault_handles.append(Patch(facecolor=colour, alpha=0.35, hatch=hatch, edgecolor=colour,
                                   label=_fault_label(w)))

    # What the verdicts measured: lost writes' acknowledgement span (hatched), the last user back (line).
    mark_handles = []
    for mark in verdict_marks(timeline):
        if mark.what == "lost-writes":
            for ax in (ax_av, ax_lat):
                if mark.end is not None and mark.end > mark.start:
                    ax.axvspan(mark.start, mark.end, facecolor="none", hatch="xx", edgecolor="#7f3fbf",
                               linewidth=0, alpha=0.5, zorder=1)
                else:
                    ax.axvline(mark.start, color="#7f3fbf", linewidth=2, alpha=0.6, zorder=1)
            mark_handles.append(Patch(facecolor="none", hatch="xx", edgecolor="#7f3fbf", label=mark.label))
        else:
            for ax in (ax_av, ax_lat):
                ax.axvline(mark.start, color="#2ca02c", linewidth=1.6, linestyle="--", zorder=6)
            mark_handles.append(Line2D([], [], color="#2ca02c", linewidth=1.6, linestyle="--",
                                       label=mark.label))

    # Phase boundaries: thin vertical lines on both axes, phase names just above the top axis.
    for name, start, end in phases:
        for ax in (ax_av, ax_lat):
            ax.axvline(start, color="#555555", linewidth=0.8, linestyle=":", zorder=1)
    if phases and phases[-1][2] is not None and phases[-1][2] < x_max:
        for ax in (ax_av, ax_lat):
            ax.axvline(phases[-1][2], color="#555555", linewidth=0.8, linestyle=":", zorder=1)
    for label, x, row in _phase_label_rows(phases, x_max):
        ax_av.annotate(label, xy=(x, 1.0), xycoords=("data", "axes fraction"),
                       xytext=(0, 2 + 10 * row), textcoords="offset points", fontsize=8,
                       color="#333333", ha="center", va="bottom", style="italic",
                       annotation_clip=False)

    # Top: availability per population; thicker lines underneath so overlapping 100 % lines all show.
    cmap = matplotlib.colormaps["tab10"]
    colours = {pop: cmap(i % 10) for i, pop in enumerate(populations)}
    widths = {pop: 1.5 + 1.1 * (len(populations) - 1 - i) for i, pop in enumerate(populations)}
    for pop in populations:
        own = timeline.probes(pop)
        xs, ys = availability_series(own, duration)
        ok = sum(1 for p in own if p.get("ok"))
        share = f"{100.0 * ok / len(own):.1f} % OK overall" if own else "no requests"
        ax_av.plot(xs, ys, color=colours[pop], linewidth=widths[pop], drawstyle="steps-mid",
                   solid_joinstyle="miter", label=f"{pop} ({share})", zorder=3)
    ax_av.set_ylim(-4, 122)  # headroom above 100 % for the fault labels
    ax_av.yaxis.set_major_locator(FixedLocator([0, 25, 50, 75, 100]))
    ax_av.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f} %"))
    ax_av.set_ylabel("availability\n(% of requests OK)")
    ax_av.grid(True, axis="y", alpha=0.3)
    handles, _ = ax_av.get_legend_handles_labels()
    if handles or fault_handles or mark_handles:
        if fault_handles:
            handles += [Patch(visible=False, label="faults:")] + fault_handles
        if mark_handles:
            handles += [Patch(visible=False, label="verdicts:")] + mark_handles
        ax_av.legend(handles=handles, title=f"per population, {width:.2g} s bins", **legend_kw)
    if not probes:
        ax_av.text(0.5, 0.45, "no requests recorded", transform=ax_av.transAxes, ha="center",
                   va="center", fontsize=12, color="#888888")

    # Bottom: latency of each request, failures marked distinctly, p95 per bin.
    lat_probes = [p for p in probes if p.get("latency") is not None]
    for pop in populations:
        ok_pts = [p for p in lat_probes if p.get("population") == pop and p.get("ok")]
        if ok_pts:
            ax_lat.scatter([p["t"] for p in ok_pts],
                           [max(p["latency"] * 1000.0, 0.01) for p in ok_pts],
                           s=7, alpha=0.45, color=colours[pop], linewidths=0, zorder=2)
    failed = [p for p in lat_probes if not p.get("ok")]
    if failed:
        ax_lat.scatter([p["t"] for p in failed], [max(p["latency"] * 1000.0, 0.01) for p in failed],
                       s=24, marker="x", color="#d62728", linewidths=1.2, zorder=4)
    p95_x, p95_y = latency_p95_series(lat_probes, duration)
    if p95_x:
        ax_lat.plot(p95_x, p95_y, color="black", linewidth=1.3, drawstyle="steps-mid", zorder=5)
    ax_lat.set_yscale("log")
    ax_lat.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_lat.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms"))
    ax_lat.yaxis.set_minor_formatter(NullFormatter())
    ax_lat.margins(y=0.08)
    ax_lat.set_ylabel("latency per request\n(log scale)")
    ax_lat.set_xlabel("time since drill start (seconds)")
    ax_lat.grid(True, which="major", axis="y", alpha=0.3)
    if lat_probes:
        lat_handles = [Line2D([], [], color="black", linewidth=1.3, label="p95 of all requests")]
        lat_handles += [Line2D([], [], linestyle="", marker="o", markersize=4, alpha=0.6,
                               color=colours[pop], label=f"{pop}, OK") for pop in populations]
        lat_handles.append(Line2D([], [], linestyle="", marker="x", color="#d62728",
                                  label=f"failed request ({len(failed)})"))
        ax_lat.legend(handles=lat_handles, title=f"each request; p95 per {width:.2g} s bin",
                      **legend_kw)
    else:
        ax_lat.set_ylim(1, 1000)
        ax_lat.text(0.5, 0.5, "no latencies recorded", transform=ax_lat.transAxes, ha="center",
                    va="center", fontsize=12, color="#888888")
    ax_lat.set_xlim(0, x_max)

    fig.savefig(path, format="png")
    return path
