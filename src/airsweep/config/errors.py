"""The error every sweep-param check raises, in a module of its own that each concern imports."""

from __future__ import annotations


class SweepConfigError(ValueError):
    """An invalid sweep parameter; the message starts with the field path."""
