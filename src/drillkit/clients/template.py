"""The tiny language of journeys declared as data: templates that build requests, extractions that
read answers.

Templates (paths, bodies, headers, SQL parameters, Redis arguments)::

    {user}            the client's name (e.g. clerk-007)
    {i}               the client's number in its pool (from `first`, default 1)
    {n}               the iteration number of this client (1, 2, ...)
    {token}           the session token of the last login (journeys with a login)
    {NAME}            a value saved from an earlier answer (`save:`) or set by `let:`
    {NAME:FMT}        the same, formatted with Python's format spec, e.g. {i:03d}
    {random:A..B}     a whole number between A and B (inclusive), from the client's seeded generator
    {random:A..B:FMT} the same, formatted, e.g. citizen-{random:1..500:04d} -> citizen-0042
    {uuid}            a fresh random UUID, never the same twice — also not in the next drill on the
                      same database (a seeded one would repeat there: duplicate keys, and an earlier
                      drill's row could hide a write lost now)

A string that is exactly one placeholder keeps the value's type (``"{random:1..9}"`` in a JSON
body is the number 7, not the text "7"); ``{{`` and ``}}`` are literal braces.

Extractions (where a token, an id or a saved value comes from)::

    body              the whole JSON answer
    body.token        a key of the JSON answer; nested: body.data.id
    body.items[0].id  a list element (negative counts from the end); body.items[random].id picks one
    header:NAME       a response header (case-insensitive)
    cookie:NAME       a cookie the answer set (or the client holds)
    status            the HTTP status
    var:NAME          a value saved earlier (or a template variable such as user, n)

Both are parsed when the environment or scenario is loaded (:func:`parse_template`,
:func:`parse_extraction` raise :class:`TemplateError` with the reason), so a typo is a one-line
configuration error, not a failure in the middle of a drill.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["TemplateError", "Template", "Extraction", "Answer", "parse_template", "parse_extraction",
           "render", "compile_value", "MISSING"]

BUILTINS = ("user", "i", "n", "token")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANDOM = re.compile(r"^random:\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*(?::(.+))?$")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+|random)\]")


class TemplateError(ValueError):
    """A template or extraction that cannot work (the message says why)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()  # an extraction that found nothing (a key absent, an empty list)
RANDOM_INDEX = object()  # `[random]` in a body path: one element, chosen by the client's generator


@dataclass(frozen=True)
class _Part:
    literal: str | None = None
    name: str | None = None       # a variable (builtin or saved)
    fmt: str = ""
    lo: int | None = None         # {random:lo..hi}
    hi: int | None = None
    uuid: bool = False


@dataclass(frozen=True)
class Template:
    """A parsed template; :meth:`render` fills it from the variables and the client's generator."""

    source: str
    parts: tuple[_Part, ...]

    @property
    def names(self) -> set[str]:
        return {p.name for p in self.parts if p.name}

    def render(self, variables: Mapping[str, Any], rng: random.Random) -> Any:
        parts = self.parts
        if len(parts) == 1 and parts[0].literal is not None:
            return parts[0].literal     # plain text (most paths): nothing to fill in
        values = [self._value(p, variables, rng) for p in parts]
        if len(self.parts) == 1 and self.parts[0].literal is None and not self.parts[0].fmt:
            return values[0]  # exactly one placeholder: keep its type
        return "".join(str(v) for v in values)

    @staticmethod
    def _value(p: _Part, variables: Mapping[str, Any], rng: random.Random) -> Any:
        if p.literal is not None:
            return p.literal
        if p.uuid:
            return str(uuid.uuid4())   # not from rng: ids must differ between drills
        if p.lo is not None:
            n = rng.randint(p.lo, p.hi)  # type: ignore[arg-type]
            return format(n, p.fmt) if p.fmt else n
        if p.name not in variables or variables[p.name] is MISSING:
            raise KeyError(p.name)
        v = variables[p.name]
        return format(v, p.fmt) if p.fmt else v


def parse_template(text: str, known: set[str] | None = None) -> Template:
    """Parse ``text``; with ``known``, every variable must be a builtin or in ``known``."""
    if not isinstance(text, str):
        raise TemplateError(f"a template must be text, not {type(text).__name__}")
    parts: list[_Part] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(_Part(literal=text[pos:m.start()]))
        pos = m.end()
        if m.group(0) in ("{{", "}}"):
            parts.append(_Part(literal=m.group(0)[0]))
            continue
        inner = m.group(1).strip()
        rnd = _RANDOM.match(inner)
        if rnd:
            lo, hi = int(rnd.group(1)), int(rnd.group(2))
            if lo > hi:
                raise TemplateError(f"{{{inner}}}: the range is empty ({lo} > {hi})")
            fmt = (rnd.group(3) or "").strip()
            if fmt:
                try:
                    format(0, fmt)
                except ValueError:
                    raise TemplateError(f"{{{inner}}}: {fmt!r} is not a format spec (e.g. 04d)") from None
            parts.append(_Part(lo=lo, hi=hi, fmt=fmt))
            continue
        if inner.startswith("random"):
            raise TemplateError(f"{{{inner}}} is not a range: write {{random:1..2000}}")
        if inner == "uuid":
            parts.append(_Part(uuid=True))
            continue
        name, _, fmt = inner.partition(":")
        if not _NAME.match(name):
            raise TemplateError(f"{{{inner}}} is not a placeholder: use {{user}}, {{i}}, {{n}}, {{token}}, "
                                "{random:A..B}, {uuid} or a saved name")
        if fmt:
            try:
                format(0, fmt)
            except ValueError:
                raise TemplateError(f"{{{inner}}}: {fmt!r} is not a format spec (e.g. 03d)") from None
        if known is not None and name not in BUILTINS and name not in known:
            raise TemplateError(f"{{{name}}} is not known here: use {', '.join('{' + n + '}' for n in (*BUILTINS, *sorted(known)))}"
                                " (a value is known once an earlier step saved it)")
        parts.append(_Part(name=name, fmt=fmt))
    if pos < len(text):
        parts.append(_Part(literal=text[pos:]))
    stray = "".join(p.literal or "" for p in parts if p.literal not in ("{", "}"))
    if "{" in stray or "}" in stray:
        raise TemplateError(f"unbalanced brace in {text!r}: write {{{{ or }}}} for a literal brace")
    return Template(text, tuple(parts) or (_Part(literal=""),))


def compile_value(value: Any, known: set[str] | None = None) -> Any:
    """A YAML value whose strings are templates (mappings and lists walked): parsed once."""
    if isinstance(value, str):
        return parse_template(value, known)
    if isinstance(value, dict):
        return {str(k): compile_value(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_value(v, known) for v in value]
    return value


def render(value: Any, variables: Mapping[str, Any], rng: random.Random) -> Any:
    """Fill a compiled value (see :func:`compile_value`); KeyError names a missing variable."""
    if isinstance(value, Template):
        return value.render(variables, rng)
    if isinstance(value, dict):
        return {k: render(v, variables, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables, rng) for v in value]
    return value


@dataclass
class Answer:
    """What an extraction reads: an HTTP answer (or any protocol's reply in ``body``)."""

    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    cookies: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Extraction:
    source: str                    # body | header | cookie | status | var
    name: str = ""                 # header/cookie/var name
    path: tuple[Any, ...] = ()     # body path: str keys, int indexes, RANDOM_INDEX
    text: str = ""

    def read(self, answer: Answer, variables: Mapping[str, Any] | None = None,
             rng: random.Random | None = None) -> Any:
        """The value, or MISSING when the answer does not hold it."""
        if self.source == "status":
            return answer.status if answer.status is not None else MISSING
        if self.source == "header":
            for k, v in (answer.headers or {}).items():
                if k.lower() == self.name.lower():
                    return v
            return MISSING
        if self.source == "cookie":
            return (answer.cookies or {}).get(self.name, MISSING)
        if self.source == "var":
            return (variables or {}).get(self.name, MISSING)
        value = answer.body
        for seg in self.path:
            if isinstance(seg, str):
                if not isinstance(value, dict) or seg not in value:
                    return MISSING
                value = value[seg]
            elif seg is RANDOM_INDEX:
                if not isinstance(value, list) or not value:
                    return MISSING
                value = (rng or random).choice(value)
            else:
                if not isinstance(value, list) or not -len(value) <= seg < len(value):
                    return MISSING
                value = value[seg]
        return MISSING if value is None else value


def parse_extraction(text: Any) -> Extraction:
    """``body.items[0].id``, ``header:X-Token``, ``cookie:sid``, ``status``, ``var:NAME``."""
    if not isinstance(text, str) or not text.strip():
        raise TemplateError("an extraction must be text such as body.token, header:NAME, cookie:NAME")
    t = text.strip()
    fix = "write body.KEY, body.list[0].KEY, body.list[random].KEY, header:NAME, cookie:NAME, status or var:NAME"
    if t == "status":
        return Extraction("status", text=t)
    for source in ("header", "cookie", "var"):
        if t.startswith(source + ":"):
            name = t[len(source) + 1:].strip()
            ok = re.match(r"^[A-Za-z0-9_.-]+$", name) if source != "var" else _NAME.match(name)
            if not name or not ok:
                raise TemplateError(f"{t!r}: {source} needs a name ({fix})")
            return Extraction(source, name=name, text=t)
    if t == "body" or t.startswith("body.") or t.startswith("body["):
        rest = t[4:]
        path: list[Any] = []
        pos = 0
        for m in _SEGMENT.finditer(rest):
            if m.start() != pos:
                break
            pos = m.end()
            if m.group(1) is not None:
                path.append(m.group(1))
            else:
                path.append(RANDOM_INDEX if m.group(2) == "random" else int(m.group(2)))
        if pos != len(rest):
            raise TemplateError(f"{t!r}: cannot read {rest[pos:]!r} ({fix})")
        return Extraction("body", path=tuple(path), text=t)
    raise TemplateError(f"{t!r} is not an extraction ({fix})")
