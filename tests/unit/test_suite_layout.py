"""The test suite's own layout: pytest imports test modules by basename (rootdir mode,
no ``__init__.py`` in tests/unit or tests/integration), so two files of one name make
the whole run fail at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_basename_of_its_own():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
