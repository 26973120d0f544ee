"""Bad input can't hang or hurt: alias bombs (in a Compose file, in a scenario, under its
`switches:`), deep nesting, long switch values a file refers to through aliases, and files full of
faults are answered with one line naming file:line — never after reading more than the bounds
allow, never with a traceback, and nothing starts.

The hang guard (``answered``) is generous on purpose: it tells a hang (the tester's 9-level bomb took
more than 180 s) from an answer, it does not time this machine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.errors import ConfigError
from drillkit.lab.compose import MAX_SWITCH_VALUE, load_environment
from drillkit.scenario.model import load_scenario
from drillkit.stack import load_stack
from drillkit.yamlsrc import MAX_DEPTH, MAX_NODES, load_yaml

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "environments" / "registry" / "compose.yaml"
HANG = 60.0   # seconds: far beyond any answer, far below the tester's hangs


def answered(fn: Callable[[], Any]) -> Any:
    """fn()'s result or exception, or a failure if it does not come back within HANG seconds."""
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc
    th = threading.Thread(target=go, daemon=True)
    th.start()
    th.join(HANG)
    assert not th.is_alive(), f"no answer within {HANG:g} s: it hangs"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def bomb(key: str, levels: int, fan: int = 10, indent: str = "") -> str:
    """`key:` holding a 'billion laughs': each level an anchor listing the one before `fan` times."""
    lines = [f"{indent}{key}:", f"{indent}  a0: &a0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


COMPOSE = 'services:\n  web:\n    image: drillkit/none:1\n    ports: ["8000"]\n'
SCENARIO = (f"scenario: bad input\nenvironment: {REGISTRY}\nusers: {{clerks: 2}}\nprobe: false\n"
            "faults:\n  - {kind: kill, target: {service: app, replica: 2}, at: 0s, for: 1s}\nobserve: 2s\n")


def one_line_refusal(exc: ConfigError, path: Path, what: str) -> int:
    msg = str(exc)
    assert msg.startswith(f"{path}:") and what in msg and "\n" not in msg, msg
    return int(msg.split(":")[1])


@pytest.mark.parametrize("levels", [7, 9, 12])
def test_alias_bomb_in_a_compose_file(tmp_path, levels):
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE + bomb("x-bomb", levels))
    with pytest.raises(ConfigError) as info:
        answered(lambda: load_stack(path))
    one_line_refusal(info.value, path, f"more than {MAX_NODES:,} values")


@pytest.mark.parametrize("key", ["description", "switches", "users", "expect"])
def test_alias_bomb_anywhere_in_a_scenario(tmp_path, key):
    path = tmp_path / "bomb.yaml"
    text = SCENARIO.replace("probe: false\n", "probe: false\n" + bomb(key, 9)) if key != "users" \
        else SCENARIO.replace("users: {clerks: 2}\n", bomb("users", 9))
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        answered(lambda: load_scenario(path))
    one_line_refusal(info.value, path, f"more than {MAX_NODES:,} values")


def test_merge_key_bomb_and_nesting_through_aliases(tmp_path):
    merge = ["a0: &a0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8, k8: 9, k9: 0}"]
    merge += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    merge += ["x: {<<: *a0, y: *a7}"]
    with pytest.raises(ConfigError, match="more than"):
        answered(lambda: load_yaml("\n".join(merge) + "\n", "merge.yaml"))
    half = MAX_DEPTH // 2 + 2     # each half is fine; the alias puts one inside the other
    deep = f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n"
    with pytest.raises(ConfigError, match=f"deeper than {MAX_DEPTH} levels") as info:
        load_yaml(deep, "deep.yaml")
    assert str(info.value).startswith("deep.yaml:2:")
    with pytest.raises(ConfigError, match="refers to itself"):
        load_yaml("a: &a [1, *a]\n", "self.yaml")


def test_a_large_file_is_refused_where_the_bound_is_passed_not_after_reading_it_all(tmp_path):
    """Values are counted as the parser meets them: the refusal names the line where the count
    passed the bound, so nothing after it was read (linear in the file, bounded by MAX_NODES)."""
    n = 60_000       # three values a line: the bound is passed a little past half-way
    text = "scenario: many\nenvironment: registry\nobserve: 2s\nfaults:\n" + "- {kind: kill}\n" * n
    assert len(text) < (1 << 20)     # under the size bound: this is about values, not bytes
    path = tmp_path / "many.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        answered(lambda: load_scenario(path))
    line = one_line_refusal(info.value, path, f"more than {MAX_NODES:,} values")
    # 9 values before the first fault (the mapping, three keys with their values, faults: and its
    # list), then three a line: the count passes the bound on this line, and the reading stops there
    assert line == 4 + (MAX_NODES - 9) // 3 + 1, f"refused at line {line} of {n + 4}"


def test_a_long_switch_value_is_refused_and_aliases_stay_shared(tmp_path):
    """A switch's value goes wherever the file says ${NAME}: through an alias that is 10,000 places.
    Values are at most MAX_SWITCH_VALUE characters, and what aliases share is interpolated once."""
    refs = ["x-refs:", "  r0: &r0 '${BIG}-${BIG}'"]
    refs += [f"  r{i}: &r{i} [" + ", ".join([f"*r{i - 1}"] * 10) + "]" for i in range(1, 5)]
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE + "\n".join(refs) + "\n")
    scenario = tmp_path / "amplify.yaml"
    long_value = "A" * (MAX_SWITCH_VALUE + 1)
    scenario.write_text(f"scenario: amplify\nenvironment: compose.yaml\nprobe: false\nswitches:\n  BIG: '{long_value}'\n"
                        "faults:\n  - {kind: kill, target: web}\nobserve: 1s\n")
    with pytest.raises(ConfigError) as info:
        answered(lambda: load_scenario(scenario))
    assert one_line_refusal(info.value, scenario, "characters long") == 5
    with pytest.raises(ConfigError, match=f"at most {MAX_SWITCH_VALUE:,}"):
        load_environment(compose, {"BIG": long_value})
    # the longest value, 20,000 times through the aliases: interpolated once, so it loads (written
    # out, that would be 40 MB, ten times what the values may add to a file)
    env = answered(lambda: load_environment(compose, {"BIG": "B" * MAX_SWITCH_VALUE}))
    assert env.chosen == {"BIG": "B" * MAX_SWITCH_VALUE}
    # written out 5,000 times, it is refused
    distinct = tmp_path / "distinct" / "compose.yaml"
    distinct.parent.mkdir()
    distinct.write_text(COMPOSE + "x-refs:\n" + "".join(f"  r{i}: '${{BIG}}'\n" for i in range(5000)))
    with pytest.raises(ConfigError, match="characters larger once interpolated"):
        answered(lambda: load_environment(distinct, {"BIG": "B" * MAX_SWITCH_VALUE}))


# -- what one scenario may ask for ---------------------------------------------------------------
def scenario(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


TIMED = (f"scenario: bounded\nenvironment: {REGISTRY}\n" "users: {{clerks: 2}}\nprobe: false\n"
         "faults:\n  - {{kind: kill, target: {{service: app, replica: 2}}, {when}}}\n{rest}\n")


@pytest.mark.parametrize(("when", "rest", "field", "words"), [
    ("at: 0s, for: 1s", "observe: 99999999h", "observe", "longer than 24 h"),
    ("at: 0s, for: 1s", "observe: 25h", "observe", "longer than 24 h"),
    ("at: 0s, for: 1s", "observe: 2s\nrecover: 2h", "recover", "longer than 1 h"),
    ("at: 0s, for: 1s", "observe: 2s\nsteady_state: {duration: 90m}", "steady_state.duration", "longer than 1 h"),
    ("at: 25h, for: 1s", "observe: 2s", "faults[0].at", "longer than 24 h"),
    ("at: 2h, for: 1s", "observe: 23h", "observe", "the schedule ends 25 h after inject starts"),
    ("at: 0s, for: 1s, repeat: {every: 2h, times: 20}", "observe: 2h", "observe",
     "the schedule ends 40 h after inject starts"),
])
def test_durations_are_bounded(tmp_path, when, rest, field, words):
    path = scenario(tmp_path, TIMED.format(when=when, rest=rest))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert f": {field}: " in msg and words in msg and "\n" not in msg, msg


def test_observe_of_24h_is_accepted(tmp_path):
    assert load_scenario(scenario(tmp_path, SCENARIO.replace("observe: 2s", "observe: 24h"))).observe == 86400


FAULT = "  - {{kind: kill, target: {{service: app, replica: {r}}}, at: {at}s, for: 0.5s}}\n"


def many(n: int, max_nodes: int = 4) -> str:
    head = SCENARIO.split("faults:\n")[0] + f"max_nodes: {max_nodes}\nobserve: 2s\nfaults:\n"
    return head + "".join(FAULT.format(r=1 + i % 4, at=f"{i / 1000:.3f}") for i in range(n))


def test_at_most_1000_faults_named_at_the_first_one_too_many(tmp_path):
    ok = answered(lambda: load_scenario(scenario(tmp_path, many(1000), "ok.yaml")))
    assert len(ok.faults) == 1000
    path = scenario(tmp_path, many(1001), "many.yaml")
    with pytest.raises(ConfigError) as info:
        answered(lambda: load_scenario(path))
    msg = str(info.value)
    assert msg.startswith(f"{path}:{8 + 1000}: faults: 1,001 faults, more than 1,000"), msg


def test_repeats_count_as_injections(tmp_path):
    text = SCENARIO.replace("at: 0s, for: 1s}", "at: 0s, for: 1ms, repeat: {every: 2ms, times: 1000}}\n"
                            "  - {kind: kill, target: {service: app, replica: 3}, at: 0s, for: 1s}")
    with pytest.raises(ConfigError, match=r"faults\[1\]: 1,001 injections with the repeats"):
        load_scenario(scenario(tmp_path, text))


def test_users_and_clients_together_are_bounded(tmp_path):
    text = SCENARIO.replace("users: {clerks: 2}", "users: {clerks: 500, busy-clerks: 500, newcomers: 1}")
    with pytest.raises(ConfigError, match="users: 1,001 users and clients in all, more than 1,000"):
        load_scenario(scenario(tmp_path, text))


def test_compose_durations_are_bounded(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE + "    healthcheck: {test: [CMD, 'true'], interval: 25h}\n")
    with pytest.raises(ConfigError, match=r"compose.yaml:5: services.web.healthcheck.interval: duration '25h' "
                                          r"is not 0..24h"):
        load_environment(path)



def _pairwise_most(sc) -> int:
    """The most nodes faulted at once, by the definition (every window against every other): the
    validator's sweep must agree with it."""
    end = max((o.start for s in sc.faults for o in s.occurrences()), default=0.0) + sc.observe
    windows = [(o.start, o.end if o.end is not None else end,
                {f"app-{o.step.target.replica}"} if o.step.target.replica else {f"app-{r}" for r in range(1, 5)})
               for s in sc.faults for o in s.occurrences()]
    most = 0
    for start, _, _ in windows:
        live = set()
        for s2, e2, nodes in windows:
            if s2 <= start + 1e-9 and (start < e2 - 1e-9 or s2 == start):
                live |= nodes
        most = max(most, len(live))
    return most


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([None, 1, 2, 3, 4]), st.sampled_from([0, 0.5, 1, 1.5]),
                          st.sampled_from([None, 0, 0.5, 1, 2])), min_size=1, max_size=8),
       st.integers(1, 4))
def test_blast_radius_sweep_agrees_with_every_pair(tmp_path, faults, max_nodes):
    lines = []
    for replica, at, length in faults:
        target = f"{{service: app, replica: {replica}}}" if replica else "{service: app}"
        lines.append(f"  - {{kind: kill, target: {target}, at: {at}s" + (f", for: {length}s}}" if length is not None else "}"))
    body = SCENARIO.split("faults:\n")[0] + "observe: 3s\nfaults:\n" + "\n".join(lines) + "\n"
    unbounded = load_scenario(scenario(tmp_path, body, "free.yaml"))
    most = _pairwise_most(unbounded)
    bounded = scenario(tmp_path, body.replace("observe: 3s", f"observe: 3s\nmax_nodes: {max_nodes}"), "bounded.yaml")
    if most > max_nodes:
        with pytest.raises(ConfigError, match="nodes faulted at once") as info:
            load_scenario(bounded)
        counted = int(str(info.value).split(": ")[2].split()[0])   # the first moment over the bound
        assert max_nodes < counted <= most
    else:
        load_scenario(bounded)
