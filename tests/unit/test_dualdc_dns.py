"""The dualdc environment's round-robin DNS on the wire: the server's answers (its app) as the mail
clients of its plug-in read them. Pure logic: packets built and parsed in memory."""

import importlib.util
import struct
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[2] / "environments" / "dualdc"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


app = load("dualdc_app_under_test", HERE / "app" / "dualdc_app.py")
plugin = load("dualdc_plugin_under_test", HERE / "drill_plugin.py")


def zone_with(addresses: dict[str, str], text: str = "mail=new-1,new-2;mail-old=old-1,old-2"):
    z = app.Zone(app.parse_zone(text))
    z.addresses.update(addresses)
    return z


def test_zone_text_is_parsed_into_names_and_nodes():
    assert app.parse_zone(" mail = new-1, new-2 ;mail-old=old-1,old-2;") == \
        {"mail": ["new-1", "new-2"], "mail-old": ["old-1", "old-2"]}


def test_the_answer_rotates_with_every_query_like_a_cyclic_rrset():
    z = zone_with({"new-1": "10.0.0.2", "new-2": "10.0.0.3"})
    firsts = [z.lookup("mail")[0] for _ in range(4)]
    assert firsts == ["10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.3"]
    assert sorted(z.lookup("mail")) == ["10.0.0.2", "10.0.0.3"]


def test_a_node_that_does_not_resolve_keeps_its_last_address(monkeypatch):
    z = zone_with({"new-1": "10.0.0.2", "new-2": "10.0.0.3"}, "mail=new-1,new-2,new-3")

    def docker_dns(node):            # Docker's resolver, as seen after new-1 died and new-2 came back
        if node == "new-2":
            return "10.0.0.9"
        raise OSError("Name or service not known")
    monkeypatch.setattr(app.socket, "gethostbyname", docker_dns)
    z.refresh()
    assert sorted(z.lookup("mail")) == ["10.0.0.2", "10.0.0.9"]   # new-3 never resolved: not invented
    assert z.lookup("unknown") is None


def test_client_reads_the_servers_answer_in_order():
    z = zone_with({"new-1": "10.0.0.2", "new-2": "10.0.0.3"})
    q = plugin.dns_query("mail", 77)
    assert app.question(q)[2:4] == ("mail", 1)
    first = plugin.dns_addresses(app.answer(q, z.lookup("mail")), 77)
    second = plugin.dns_addresses(app.answer(q, z.lookup("mail")), 77)
    assert first == ["10.0.0.2", "10.0.0.3"] and second == ["10.0.0.3", "10.0.0.2"]


def test_unknown_name_is_nxdomain_and_reads_as_no_address():
    q = plugin.dns_query("nope", 5)
    packet = app.answer(q, None)
    assert struct.unpack("!H", packet[2:4])[0] & 0xF == 3
    assert plugin.dns_addresses(packet, 5) == []


def test_an_answer_to_another_query_or_a_short_packet_is_refused():
    q = plugin.dns_query("mail", 1)
    with pytest.raises(ValueError):
        plugin.dns_addresses(app.answer(q, ["10.0.0.2"]), 2)
    with pytest.raises(ValueError):
        plugin.dns_addresses(b"\x00\x01", 1)


@pytest.mark.parametrize("name", ["", "a..b", "x" * 64, "bücher"])
def test_a_bad_name_is_not_sent(name):
    with pytest.raises(ValueError):
        plugin.dns_query(name, 1)


def test_the_kinds_say_what_their_users_measure():
    kinds = plugin.plugin.users
    assert set(kinds) == {"retrying", "caching", "old-name"}
    assert kinds["caching"].populations == ("caching", "caching-shared")
    c = kinds["caching"].client(0)
    assert (c.name, c.mode, c.dns_name) == ("caching-001", plugin.CACHE, plugin.NEW_NAME)
    assert kinds["old-name"].client(1).dns_name == plugin.OLD_NAME
    with pytest.raises(Exception, match="mode"):
        plugin.MailClient("x", population="p", mode="sometimes")
