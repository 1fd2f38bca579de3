"""Read and write ``KEY=value`` env files (the format docker compose reads)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


class EnvFileError(ValueError):
    """An env file line is not ``KEY=value``; the message names file and line."""


def read_env_file(path: Path) -> dict[str, str]:
    """Parse an env file: ``KEY=value`` lines, ``#`` comments and blank lines.

    Values are taken literally (no quotes removed, no interpolation), which is
    what docker compose does for unquoted values; airsweep writes none quoted.

    Raises:
        EnvFileError: A line is not of the form ``KEY=value``.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip().isidentifier():
            raise EnvFileError(f"{path}:{number}: expected KEY=value, got {stripped!r}")
        values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, values: Mapping[str, str], header: str = "") -> None:
    """Write ``values`` atomically to ``path`` with mode 0600.

    The file is first written to a temporary file in the same directory and
    renamed, so a crash leaves either the old file or the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {row}" for row in header.splitlines()]
    for key, value in values.items():
        if "\n" in value:
            raise EnvFileError(f"{key}: values cannot contain newlines")
        lines.append(f"{key}={value}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
