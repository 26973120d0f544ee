"""The vocabulary as a hypothesis strategy, and the choices that strategy reads.

A schedule is made of plain integer draws — how many faults, then per fault its option, variant (when
the option has several), time step and duration step, then a user count per kind — so hypothesis
shrinks it on its choice sequence without custom code: a smaller count drops faults, smaller steps
make them earlier and shorter, a smaller option index moves a fault towards the mildest kind, a smaller
user count means fewer users. `Vocabulary.schedule` lays the picks out (the random baseline uses it
too). `choices` is the inverse: the integers this strategy turns into given picks, which the guided
generator hands to hypothesis (see `guide`).
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import reject
from hypothesis import strategies as st

from drillkit.explore.schedule import Schedule
from drillkit.explore.vocabulary import Pick, Vocabulary

__all__ = ["picks", "schedules", "choices", "locate_picks", "subschedules", "subschedule_choices"]


def picks(vocabulary: Vocabulary) -> st.SearchStrategy[Pick]:
    """One fault as drawn (see `Pick`)."""

    @st.composite
    def pick(draw) -> Pick:
        option = draw(st.integers(0, len(vocabulary.options) - 1))
        variants = len(vocabulary.options[option].variants)
        variant = draw(st.integers(0, variants - 1)) if variants > 1 else 0
        time = draw(st.integers(0, vocabulary.at_steps))
        duration = draw(st.integers(0, vocabulary.duration_steps))
        return Pick(option, variant, time, duration)

    return pick()


def schedules(vocabulary: Vocabulary) -> st.SearchStrategy[Schedule]:
    """Schedules of 1..max_faults faults (and users per kind when the vocabulary varies them)."""
    one = picks(vocabulary)

    @st.composite
    def schedule(draw) -> Schedule:
        n = draw(st.integers(1, vocabulary.max_faults))
        drawn = [draw(one) for _ in range(n)]
        users = [(kind, draw(st.integers(lo, hi))) for kind, (lo, hi) in vocabulary.users.items()]
        return vocabulary.schedule(drawn, users)

    return schedule()


def choices(vocabulary: Vocabulary, drawn: Sequence[Pick], users: Sequence[int] = ()) -> list[int]:
    """The integer choices `schedules` reads to make ``vocabulary.schedule(drawn, users)``, in order
    (``users``: one count per kind of ``vocabulary.users``, in its order)."""
    if not 1 <= len(drawn) <= vocabulary.max_faults:
        raise ValueError(f"{len(drawn)} picks, the vocabulary takes 1..{vocabulary.max_faults}")
    out = [len(drawn)]
    for p in drawn:
        out.append(p.option)
        if len(vocabulary.options[p.option].variants) > 1:
            out.append(p.variant)
        out.extend((p.time, p.duration))
    out.extend(users)
    return out


def _alternatives(vocabulary: Vocabulary, option: int) -> list[int]:
    """The options a fault may shrink to: the same target, a kind no harsher (earlier in ``kinds``),
    mildest first, ending with the option itself."""
    o = vocabulary.options[option]
    if o.target is None:
        return [option]
    rank = {k: i for i, k in enumerate(vocabulary.kinds)}
    same = [i for i, x in enumerate(vocabulary.options)
            if x.target == o.target and rank[x.name] <= rank[o.name]]
    return sorted(same, key=lambda i: rank[vocabulary.options[i].name])


def _located(vocabulary: Vocabulary, found: Schedule) -> list[tuple[int, int, int, int]]:
    """Each fault of ``found`` as (option, variant, time step, duration step) of the vocabulary;
    time steps are gaps after the previous fault when faults do not overlap."""
    out = []
    previous_end = vocabulary.at[0]
    for d in found.faults:
        option, variant = vocabulary.locate(d)
        start = d.at - (vocabulary.at[0] if vocabulary.overlap else previous_end)
        out.append((option, variant, max(0, round(start / vocabulary.step)),
                    max(0, round((d.duration - vocabulary.duration[0]) / vocabulary.step))))
        previous_end = d.end
    return out


def locate_picks(vocabulary: Vocabulary, schedule: Schedule) -> list[Pick]:
    """The picks that lay out to ``schedule`` in this vocabulary (`Vocabulary.schedule`)."""
    return [Pick(*x) for x in _located(vocabulary, schedule)]


def subschedules(vocabulary: Vocabulary, found: Schedule) -> st.SearchStrategy[Schedule]:
    """The schedules ``found`` may shrink to, as a strategy whose choices shrink towards less: each
    fault kept or dropped (dropped is smaller), a milder kind on the same target, a milder variant,
    shorter; the whole schedule earlier (one shift) and each fault closer to the first one's start
    (or, when faults do not overlap, closer to the previous one's end); fewer users. ``found`` itself
    is its largest point (`subschedule_choices`)."""
    located = _located(vocabulary, found)
    counts = dict(found.users)
    first = min((t for _, _, t, _ in located), default=0) if vocabulary.overlap else 0

    @st.composite
    def sub(draw) -> Schedule:
        start = draw(st.integers(0, first)) if first else 0
        drawn = []
        for option, variant, time, duration in located:
            keep = draw(st.integers(0, 1))
            alts = _alternatives(vocabulary, option)
            chosen = alts[draw(st.integers(0, len(alts) - 1))] if len(alts) > 1 else option
            v = draw(st.integers(0, variant)) if variant else 0
            t = draw(st.integers(0, time - first)) if time > first else 0
            d = draw(st.integers(0, duration)) if duration else 0
            if keep:
                drawn.append(Pick(chosen, min(v, len(vocabulary.options[chosen].variants) - 1), start + t, d))
        users = [(kind, draw(st.integers(lo, counts.get(kind, hi)))) for kind, (lo, hi) in vocabulary.users.items()]
        if not drawn:
            reject()
        return vocabulary.schedule(drawn, users)

    return sub()


def subschedule_choices(vocabulary: Vocabulary, found: Schedule) -> list[int]:
    """The choices of `subschedules` that give ``found`` back: every fault kept, as it was."""
    located = _located(vocabulary, found)
    counts = dict(found.users)
    first = min((t for _, _, t, _ in located), default=0) if vocabulary.overlap else 0
    out: list[int] = [first] if first else []
    for option, variant, time, duration in located:
        out.append(1)
        alts = _alternatives(vocabulary, option)
        if len(alts) > 1:
            out.append(alts.index(option))
        if variant:
            out.append(variant)
        if time > first:
            out.append(time - first)
        if duration:
            out.append(duration)
    out.extend(counts.get(kind, hi) for kind, (lo, hi) in vocabulary.users.items())
    return out
