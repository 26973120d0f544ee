"""Fixtures for tests against real containers."""

import pytest
from lab_support import TINY

from drillkit.lab.engine import client
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def docker():
    return client()


@pytest.fixture(scope="module")
def tiny(docker):
    env = Environment(load_stack(TINY))
    try:
        env.up()
        yield env
    finally:
        env.down()
