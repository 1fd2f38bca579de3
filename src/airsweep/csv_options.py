"""The ``csv_options`` sweep param, and reading a CSV with it.

``csv_options`` lets a sweep read CSVs that are not comma-separated UTF-8: a
small allow-list of :func:`pandas.read_csv` arguments, passed as they are.

==============  ===========================  ==========================================
key             value                        pandas default
==============  ===========================  ==========================================
``sep``         one character (a tab too)    ``","``
``encoding``    a Python text encoding       ``"utf-8"``
``decimal``     one character                ``"."``
``thousands``   one character                none
``na_values``   up to 100 distinct strings   added to pandas' own missing markers
==============  ===========================  ==========================================

This module is import-light (pandas and fsspec are imported when a file is
read): :mod:`airsweep.config` builds the DAG's Params from :data:`SCHEMA` at
parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Dataset suffixes that are CSV files (``csv_options`` applies to these only).
CSV_SUFFIXES = (".csv", ".csv.gz")
#: Characters no separator, decimal or thousands mark may be: they end rows or quote.
RESERVED_CHARACTERS = ("\n", "\r", '"')
_CHARACTER = {"type": "string", "minLength": 1, "maxLength": 1}

#: JSON schema of the ``csv_options`` param (its ``default`` and ``description`` included).
SCHEMA: dict[str, Any] = {
    "default": {},
    "type": "object",
    "properties": {
        "sep": _CHARACTER,
        "encoding": {"type": "string", "minLength": 1, "maxLength": 40},
        "decimal": _CHARACTER,
        "thousands": _CHARACTER,
        "na_values": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "maxItems": 100,
            "uniqueItems": True,
        },
    },
    "additionalProperties": False,
    "description": (
        "Only for a .csv or .csv.gz dataset: sep (one character, default ','), encoding "
        "(default utf-8), decimal (default '.'), thousands (default none), na_values "
        "(strings read as missing, besides pandas' own)."
    ),
}


class CsvOptionsError(ValueError):
    """Invalid ``csv_options``; the message starts with the field path."""


def check_csv_options(options: Mapping[str, Any]) -> None:
    """Check what :data:`SCHEMA` cannot: a known text encoding, usable marks.

    A mark may equal ``sep`` (a quoted ``"1,5"`` reads with ``decimal: ","``),
    but thousands and decimal marks must differ.

    Args:
        options: ``csv_options`` already valid against :data:`SCHEMA`.

    Raises:
        CsvOptionsError: the first problem, its message starting with the field path.
    """
    if "encoding" in options:
        try:
            "".encode(options["encoding"])
        except LookupError:
            raise CsvOptionsError(
                f"csv_options.encoding: {options['encoding']!r} is not a text encoding Python "
                "knows (e.g. utf-8, latin-1, cp1252)"
            ) from None
    for key in ("sep", "decimal", "thousands"):
        if options.get(key) in RESERVED_CHARACTERS:
            raise CsvOptionsError(f"csv_options.{key}: {options[key]!r} ends rows or quotes fields")
    decimal = options.get("decimal", ".")
    if options.get("thousands") == decimal:
        raise CsvOptionsError(
            f"csv_options.thousands: {decimal!r} is also the decimal mark (csv_options.decimal, "
            "default '.')"
        )


def read_csv(uri: str, options: Mapping[str, Any]) -> pd.DataFrame:
    """Read a CSV (optionally compressed) with ``options``, keeping its header's names.

    pandas renames a repeated column name (``x``, ``x.1``); the columns get
    the names of the file's header back, so a repeated name stays visible as a
    duplicate label. An empty header cell keeps pandas' ``Unnamed: <i>`` name.

    Args:
        uri: Local path or fsspec URI.
        options: Validated ``csv_options``, passed to :func:`pandas.read_csv`.

    Raises:
        Whatever fsspec or pandas raises (the caller turns it into one line).
    """
    import fsspec
    import pandas as pd

    with fsspec.open(uri, "rb", compression="infer") as handle:
        frame = pd.read_csv(handle, **options)
    header_options = {key: options[key] for key in ("sep", "encoding") if key in options}
    with fsspec.open(uri, "rb", compression="infer") as handle:
        header = pd.read_csv(
            handle, header=None, nrows=1, dtype=str, na_filter=False, **header_options
        )
    names = header.iloc[0].tolist() if len(header) else []
    if len(names) == len(frame.columns):
        frame.columns = [name or parsed for name, parsed in zip(names, frame.columns, strict=True)]
    return frame
