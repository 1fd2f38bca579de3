"""The artifact store: data splits, models and reports addressed by URI (fsspec).

Writes are atomic. On the local filesystem a write goes to a temporary file in
the target directory, is flushed to disk, then renamed over the target
(``os.replace``), so a reader sees the old file or the new one, never half of
one, and a crash leaves at most a ``.tmp-*`` file behind. On object stores
(``s3://``, ``gs://``...) a single ``PUT`` is already all-or-nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_key(value: str) -> str:
    """Turn any string (an Airflow run id...) into one safe path segment."""
    key = _UNSAFE.sub("_", value).strip("._")
    return key or "_"


class ArtifactStore:
    """Read and write artifacts under a root URI.

    Methods take full URIs (build them with :meth:`uri`), so URIs stored in
    manifests and model cards can be read back directly.

    Args:
        root_uri: Root of the store, e.g. ``file:///srv/airsweep/artifacts`` or
            ``s3://bucket/airsweep``.
    """

    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri.rstrip("/")

    def uri(self, *parts: str) -> str:
        """Return the URI of ``parts`` joined under the root."""
        return "/".join([self.root_uri, *(part.strip("/") for part in parts)])

    def local_path(self, uri: str) -> Path | None:
        """Return the local path of ``uri``, or ``None`` when it is not on the local disk."""
        fs, path = fsspec.core.url_to_fs(uri)
        return Path(path) if isinstance(fs, LocalFileSystem) else None

    def exists(self, uri: str) -> bool:
        """Return whether an artifact exists at ``uri``."""
        fs, path = fsspec.core.url_to_fs(uri)
        return bool(fs.exists(path))

    def write_bytes(self, uri: str, data: bytes) -> str:
        """Write ``data`` at ``uri`` atomically, creating parent folders; return ``uri``."""
        local = self.local_path(uri)
        if local is None:
            fs, path = fsspec.core.url_to_fs(uri)
            fs.pipe_file(path, data)
            return uri
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{local.name}.", dir=local.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, local)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return uri

    def read_bytes(self, uri: str) -> bytes:
        """Return the content of ``uri``."""
        fs, path = fsspec.core.url_to_fs(uri)
        return bytes(fs.cat_file(path))

    def write_json(self, uri: str, obj: Any) -> str:
        """Write ``obj`` as indented JSON at ``uri`` atomically; return ``uri``.

        Raises:
            ValueError: ``obj`` holds NaN or infinity (not valid JSON).
            TypeError: ``obj`` is not JSON-serializable.
        """
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
        return self.write_bytes(uri, (text + "\n").encode())

    def read_json(self, uri: str) -> Any:
        """Return the JSON document at ``uri``."""
        return json.loads(self.read_bytes(uri))

    def write_dataframe(self, uri: str, frame: Any) -> str:
        """Write a pandas DataFrame as Parquet at ``uri`` atomically; return ``uri``."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.write_bytes(uri, buffer.getvalue())

    def read_dataframe(self, uri: str) -> Any:
        """Return the Parquet file at ``uri`` as a pandas DataFrame."""
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.read_bytes(uri)))
