"""YAML as drillkit reads it: line numbers kept, bounded, durations, text files read safely.

Every declarative file (a Compose file, a scenario) comes in through here, so every error can name
the file and the line, and no file can hang or exhaust the process:

* ``load_yaml(text, file)`` — mappings and lists that remember their line (``line_of``); duplicate
  keys refused; at most ``MAX_BYTES`` of text, ``MAX_DEPTH`` levels of nesting and ``MAX_NODES``
  values once aliases are expanded (a "billion laughs" alias bomb is refused in milliseconds: the
  expanded size is counted on the parser's events, in one pass, before any node is built);
* ``read_text_file(path, what)`` — a regular file's UTF-8 text, or one line saying why not (missing,
  a directory, a FIFO or device — never opened, so never blocks —, empty, too large, not text);
* ``parse_duration`` — ``500ms``, ``3s``, ``1m``, ``1h`` or a number of seconds.
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from drillkit.errors import ConfigError

__all__ = ["Map", "Seq", "load_yaml", "line_of", "on_key", "read_text_file", "parse_duration",
           "DurationError", "MAX_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_DURATION", "duration_words"]

MAX_BYTES = 1 << 20          # 1 MiB: the largest shipped Compose file or scenario is ~20 KB
MAX_NODES = 100_000          # values once aliases are expanded
MAX_DEPTH = 64               # levels of nesting
MAX_DURATION = 7 * 86400.0   # no duration drillkit reads is longer than a week


# -- YAML with line numbers --------------------------------------------------------------------------
class Map(dict):
    """A YAML mapping that knows its line (``line``) and the line of each key (``key_lines``)."""

    line: int = 0
    key_lines: dict


class Seq(list):
    """A YAML list that knows its line."""

    line: int = 0


# libyaml's parser (PyYAML's wheels carry it) when there is one: the bounds below are checked on its
# event stream, which it reads about ten times faster than PyYAML's own parser
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    m = Map()
    m.line = node.start_mark.line + 1
    m.key_lines = {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        if key in m:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", knode.start_mark)
        m[key] = loader.construct_object(vnode, deep=True)
        m.key_lines[key] = knode.start_mark.line + 1
    return m


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> Seq:
    s = Seq(loader.construct_object(v, deep=True) for v in node.value)
    s.line = node.start_mark.line + 1
    return s


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of ``key`` in a mapping (its own line without a key), or None when unknown."""
    if key is not None and isinstance(container, Map):
        return container.key_lines.get(key, container.line)
    return getattr(container, "line", None)


def on_key(m: Any) -> Any:
    """YAML 1.1 reads a bare ``on:`` key as ``True``: give it back its name (line numbers kept)."""
    if not isinstance(m, dict) or True not in m:
        return m
    out = Map()
    out.line = getattr(m, "line", 0)
    out.key_lines = {}
    lines = getattr(m, "key_lines", {})
    for k, v in m.items():
        name = "on" if k is True else k
        out[name] = v
        out.key_lines[name] = lines.get(k, out.line)
    return out


class _TooLarge(Exception):
    def __init__(self, why: str, line: int | None, fix: str = "write the values out, or use fewer levels of "
                                                              "anchors and aliases"):
        self.why, self.line, self.fix = why, line, fix


_FLATTEN = "flatten the structure (also what its aliases bring in)"


def _check_bounds(text: str) -> None:
    """Read the document's events once, before any node is built, and raise `_TooLarge` at the first
    event past a bound: more than MAX_NODES values once every alias stands for the values of its
    anchor (a "billion laughs" bomb is stopped after at most MAX_NODES events, wherever it sits),
    nesting deeper than MAX_DEPTH (also through an alias), or an alias inside its own anchor.

    One pass, constant work per event: the time is linear in the file's size and bounded by
    MAX_NODES, however the aliases are arranged."""
    parser = _BaseLoader(text)
    values = 0                                      # values so far, aliases expanded
    frames: list[list] = []                         # open collections: [anchor, values at start, height]
    anchors: dict[str, tuple[int, int]] = {}        # anchor -> (values, height)
    open_anchors: set[str] = set()
    try:
        while parser.check_event():
            ev = parser.get_event()
            if isinstance(ev, (yaml.ScalarEvent, yaml.AliasEvent)):
                if isinstance(ev, yaml.AliasEvent):
                    if ev.anchor in open_anchors:
                        raise _TooLarge("an alias refers to itself (a recursive structure)", ev.start_mark.line + 1,
                                        "write the values out instead of the alias")
                    size, height = anchors.get(ev.anchor, (1, 0))   # an unknown anchor: the composer says so
                else:
                    size, height = 1, 0
                    if ev.anchor:
                        anchors[ev.anchor] = (1, 0)
                if len(frames) + height > MAX_DEPTH:
                    raise _TooLarge(f"it nests deeper than {MAX_DEPTH} levels", ev.start_mark.line + 1, _FLATTEN)
                if frames:
                    frames[-1][2] = max(frames[-1][2], height + 1)
                values += size
            elif isinstance(ev, yaml.CollectionStartEvent):
                if len(frames) + 1 > MAX_DEPTH:
                    raise _TooLarge(f"it nests deeper than {MAX_DEPTH} levels", ev.start_mark.line + 1, _FLATTEN)
                frames.append([ev.anchor, values, 1])
                if ev.anchor:
                    open_anchors.add(ev.anchor)
                values += 1
            elif isinstance(ev, yaml.CollectionEndEvent):
                anchor, start, height = frames.pop()
                if anchor:
                    open_anchors.discard(anchor)
                    anchors[anchor] = (values - start, height)
                if frames:
                    frames[-1][2] = max(frames[-1][2], height + 1)
            if values > MAX_NODES:
                raise _TooLarge(f"it holds more than {MAX_NODES:,} values (an alias counts as the values "
                                "of its anchor)", ev.start_mark.line + 1,
                                "split the file, or use fewer anchors and aliases (drillkit's own files "
                                "hold a few hundred values)")
    finally:
        parser.dispose()


def load_yaml(text: str, file: str | None = None) -> Any:
    """Parse one YAML document into `Map`/`Seq`/scalars; a one-line `ConfigError` naming the file
    (and the line) for anything that is not a usable, bounded document."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"too large: {len(text):,} characters (drillkit reads at most {MAX_BYTES:,})",
                          file=file, fix="split the file, or remove what drillkit does not need")
    loader = None
    try:
        _check_bounds(text)
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        return loader.construct_document(node)
    except _TooLarge as exc:
        raise ConfigError(f"refused: {exc.why}", file=file, line=exc.line, fix=exc.fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"not valid YAML: {problem}", file=file, line=mark.line + 1 if mark else None,
                          fix="fix the indentation/quoting at that line") from None
    except RecursionError:
        raise ConfigError(f"refused: it nests deeper than {MAX_DEPTH} levels", file=file,
                          fix="flatten the structure") from None
    except (TypeError, ValueError) as exc:  # e.g. a list as a mapping key, a bad date
        raise ConfigError(f"not a usable YAML document: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                          file=file, fix="use plain `key: value` mappings and lists") from None
    finally:
        if loader is not None:
            loader.dispose()


# -- text files ------------------------------------------------------------------------------------
def read_text_file(path: str | os.PathLike, *, what: str) -> str:
    """A regular file's text as UTF-8, or a one-line `ConfigError` naming the file and why not:
    missing, a directory, a FIFO or device (never opened: reading one could block for ever), empty,
    larger than `MAX_BYTES`, or not UTF-8 (with the line of the first bad byte)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"no such file (expected {what})", file=str(p), fix="check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=str(p),
                          fix="check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"is a folder, not {what}", file=str(p), fix="name the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"not a regular file (a FIFO, socket or device), not {what}", file=str(p),
                          fix="save the content to a file and name that")
    if st.st_size > MAX_BYTES:
        raise ConfigError(f"too large: {st.st_size:,} bytes (drillkit reads at most {MAX_BYTES:,})", file=str(p),
                          fix=f"name {what}; a file this large is not one")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=str(p),
                          fix="check the path and its permissions") from None
    if not data.strip():
        raise ConfigError(f"empty file (expected {what})", file=str(p), fix=f"write {what} into it")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ConfigError(f"a binary file, not {what} (a NUL byte)", file=str(p), line=line,
                          fix=f"name {what}, a YAML text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(p),
                          line=data[: exc.start].count(b"\n") + 1, fix="save the file as UTF-8") from None


# -- durations -------------------------------------------------------------------------------------
class DurationError(ValueError):
    """A value that is not a duration (message says why)."""


_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any, *, maximum: float = MAX_DURATION) -> float:
    """`500ms`, `3s`, `1m`, `1h` or a number of seconds -> seconds, 0 ≤ seconds ≤ ``maximum``."""
    if isinstance(value, bool) or value is None:
        raise DurationError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise DurationError(f"not a duration: {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise DurationError(f"not a duration: {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise DurationError(f"not a duration: {value!r}")
    if seconds < 0:
        raise DurationError(f"negative duration {value!r}")
    if seconds > maximum:
        raise DurationError(f"{value!r} is longer than {_words(maximum)}")
    return seconds


def duration_words(seconds: float) -> str:
    """A bound as a person writes it: ``24 h``, ``7 days``, ``15 min``, ``90 s``."""
    return _words(seconds)


def _words(seconds: float) -> str:
    """``604800`` -> ``7 days``, ``86400`` -> ``24 h``, ``900`` -> ``15 min``, ``90`` -> ``90 s``."""
    for unit, size, smallest in (("days", 86400, 2 * 86400), ("h", 3600, 3600), ("min", 60, 60)):
        if seconds >= smallest and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
