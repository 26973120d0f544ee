"""Fixtures for tests against real containers."""

import pytest

from drillkit.lab.compose import load_environment
from drillkit.lab.docker_client import client
from drillkit.lab.environment import Environment
from lab_support import TINY


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def docker():
    return client()


@pytest.fixture(scope="module")
def tiny(docker):
    env = Environment(load_environment(TINY))
    try:
        env.up()
        yield env
    finally:
        env.down()
