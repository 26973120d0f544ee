"""Our Toxiproxy adapter against the real server: the calls toxiproxy-python lacks, timeouts, errors."""

import time

import pytest

from drillkit.errors import LinkError
from drillkit.lab.links import LinkServer, Toxic


def fetch_ms(tiny) -> float:
    client = tiny.node("client")
    out = tiny.exec(client, ["python3", "-c",
                             "import time,urllib.request;t=time.monotonic();"
                             "urllib.request.urlopen('http://web:8000/', timeout=5).read();"
                             "print((time.monotonic()-t)*1000)"])
    return float(out.strip())


def test_latency_toxic_add_get_update_remove(tiny):
    links = tiny.links
    assert links.version()
    base = fetch_ms(tiny)
    links.add_toxic("client-web", Toxic("latency", {"latency": 300, "jitter": 0}, stream="downstream"))
    assert links.toxic("client-web", "latency_downstream")["attributes"]["latency"] == 300
    assert fetch_ms(tiny) >= 300          # a lower bound: a slow machine only adds to it
    links.update_toxic("client-web", "latency_downstream", attributes={"latency": 600, "jitter": 0})
    assert links.toxic("client-web", "latency_downstream")["attributes"]["latency"] == 600
    slowed = fetch_ms(tiny)
    assert slowed >= 600
    links.remove_toxic("client-web", "latency_downstream")
    assert links.toxics("client-web") == []
    # the toxic is gone: the fastest of three fetches is nearer the baseline than the slowed fetch
    assert min(fetch_ms(tiny) for _ in range(3)) < (base + slowed) / 2


def test_link_down_and_up(tiny):
    links = tiny.links
    links.set_enabled("client-web", False)
    try:
        with pytest.raises(Exception):
            fetch_ms(tiny)
    finally:
        links.set_enabled("client-web", True)
    fetch_ms(tiny)                        # answers again (fetch_ms raises if it does not)


def test_errors_are_link_errors_with_fixes(tiny):
    with pytest.raises(LinkError, match="Toxiproxy refused GET /proxies/nope.*fix: name a link"):
        tiny.links.proxy("nope")
    with pytest.raises(LinkError, match="unknown toxic type 'lag'"):
        Toxic("lag")
    with pytest.raises(LinkError, match="has no attribute 'delay'.*latency takes latency, jitter"):
        Toxic("latency", {"delay": 1})


def test_unreachable_server_times_out_quickly():
    dead = LinkServer("127.0.0.1", 9, timeout=0.5)  # discard port: nothing listens
    t = time.monotonic()
    with pytest.raises(LinkError, match="did not answer"):
        dead.proxies()
    assert time.monotonic() - t < 5
