"""Console output shared by the long-running commands (``up``, ``bootstrap``, ``sweep``)."""

from collections.abc import Callable

#: Receives one line of progress output (``print`` by default).
Printer = Callable[[str], None]
