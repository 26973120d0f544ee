"""The suite's own layout: pytest collects tests/ without packages (rootdir-relative module names),
so two test modules of one basename under tests/unit and tests/lab would stop the whole suite at
collection ("import file mismatch") — caught here, in a second, instead of after a CI image build."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert not [n for n, c in names.items() if c > 1], sorted(n for n, c in names.items() if c > 1)
