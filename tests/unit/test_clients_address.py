"""Clients reach 127.0.0.1 and the run's own containers only."""

import pytest

from drillkit.clients.address import check_host, resolve
from drillkit.errors import ConfigError


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_is_allowed(host):
    check_host(None, host)


@pytest.mark.parametrize("host", ["10.0.0.1", "172.17.0.2", "db.example.org", "0.0.0.0"])
def test_anything_else_needs_a_container_of_the_run(host):
    with pytest.raises(ConfigError, match="neither 127.0.0.1 nor a container of this run"):
        check_host(None, host)


def test_no_environment_no_address():
    with pytest.raises(ConfigError, match="no environment"):
        resolve(None, "db", 5432)
