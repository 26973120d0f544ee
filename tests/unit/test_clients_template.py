"""The template and extraction language of journeys declared as data."""

import random
import re

import pytest

from drillkit.clients.template import (
    MISSING,
    Answer,
    TemplateError,
    compile_value,
    parse_extraction,
    parse_template,
    render,
)


def rng():
    return random.Random(7)


def test_placeholders_render():
    v = {"user": "clerk-001", "i": 1, "n": 3, "slot": 42}
    assert parse_template("/slots/{slot}?by={user}&n={n}").render(v, rng()) == "/slots/42?by=clerk-001&n=3"
    assert parse_template("clerk-{i:03d}").render({"i": 7}, rng()) == "clerk-007"
    assert parse_template("a {{literal}} b").render({}, rng()) == "a {literal} b"


def test_single_placeholder_keeps_its_type():
    assert parse_template("{random:1..1}").render({}, rng()) == 1
    assert parse_template("{slot}").render({"slot": [1, 2]}, rng()) == [1, 2]
    assert parse_template("x{random:5..5}").render({}, rng()) == "x5"


def test_random_is_seeded_and_bounded_uuid_never_repeats():
    t = parse_template("{random:3..9}")
    values = [t.render({}, random.Random(k)) for k in range(200)]
    assert min(values) >= 3 and max(values) <= 9 and len(set(values)) == 7
    assert t.render({}, random.Random(1)) == t.render({}, random.Random(1))
    # ids chosen by clients: the same seed in the next drill on the same database must not repeat them
    u = parse_template("{uuid}")
    assert u.render({}, random.Random(1)) != u.render({}, random.Random(1))
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u.render({}, random.Random(1)))


@pytest.mark.parametrize("text, words", [
    ("{x", "unbalanced"), ("a}", "unbalanced"), ("{random:9..1}", "empty"), ("{random:1-9}", "not a range"),
    ("{a b}", "not a placeholder"), ("{i:zz}", "format spec"), ("{slot}", "not known"),
])
def test_bad_templates_say_why(text, words):
    with pytest.raises(TemplateError, match=words):
        parse_template(text, known=set())


def test_missing_variable_is_a_key_error():
    with pytest.raises(KeyError):
        parse_template("/x/{slot}").render({}, rng())


def test_compiled_bodies_walk_mappings_and_lists():
    body = compile_value({"a": "{i}", "b": ["{user}", 3, None], "c": True})
    assert render(body, {"i": 2, "user": "u"}, rng()) == {"a": 2, "b": ["u", 3, None], "c": True}


def test_extractions():
    ans = Answer(201, {"token": "t", "items": [{"id": 1}, {"id": 2}], "random": {"id": 9}, "none": None},
                 {"X-Node": "app2"}, {"sid": "abc"})
    read = lambda text: parse_extraction(text).read(ans, {"slot": 5}, random.Random(1))  # noqa: E731
    assert read("body.token") == "t"
    assert read("body.items[0].id") == 1 and read("body.items[-1].id") == 2
    assert read("body.items[random].id") in (1, 2)
    assert read("body.random.id") == 9            # a key called "random" is still a key
    assert read("header:x-node") == "app2" and read("cookie:sid") == "abc"
    assert read("status") == 201 and read("var:slot") == 5
    assert read("body") == ans.body
    for absent in ("body.nothing", "body.items[5].id", "body.none", "header:X-Other", "cookie:x", "var:hold"):
        assert read(absent) is MISSING
    assert parse_extraction("body.items[random].id").read(Answer(200, {"items": []})) is MISSING


@pytest.mark.parametrize("text", ["", "token", "body..x", "body.items[x]", "header:", "var:1a", "json.token"])
def test_bad_extractions(text):
    with pytest.raises(TemplateError):
        parse_extraction(text)
