"""A reader of the Monash forecasting archive's ``.tsf`` format (written here, not Monash's code)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import DataError


def is_float(text: str) -> bool:
    """Whether ``float(text)`` succeeds."""
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class TSFData:
    """The content of a Monash ``.tsf`` file.

    Attributes:
        series: one float64 array per series (missing values ``?`` become NaN).
        attributes: per attribute name, one value per series (str, float or datetime).
        metadata: the header's ``@relation``, ``@frequency``, ``@horizon``, ``@missing``,
            ``@equallength`` values as strings (keys without the ``@``).
    """

    series: list[np.ndarray]
    attributes: dict[str, list[Any]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def as_array(self) -> np.ndarray:
        """All series stacked, shape (num_series, length); they must have equal lengths."""
        lengths = {len(s) for s in self.series}
        if len(lengths) != 1:
            raise DataError(f"series have different lengths ({min(lengths)}..{max(lengths)}); "
                            "cannot stack them into one array")
        return np.stack(self.series)


def parse_tsf(lines: Iterable[str], source: str = "<tsf>") -> TSFData:
    """Parse the Monash time-series format (``.tsf``).

    Header lines start with ``@`` (``@attribute NAME TYPE`` in column order, then ``@data``);
    ``#`` lines are comments. Each data line is ``attr1:attr2:...:v1,v2,...``: the attribute
    values in declared order, then the comma-separated series. Types: ``numeric``, ``date``
    (``%Y-%m-%d %H-%M-%S``) and ``string``. Trailing ``\\r`` (CRLF files) is ignored.

    Args:
        lines: the file's lines, already decoded (Monash files are cp1252).
        source: name used in error messages.

    Raises:
        DataError: naming the source and line of anything malformed.
    """
    attr_names: list[str] = []
    attr_types: list[str] = []
    metadata: dict[str, str] = {}
    attributes: dict[str, list[Any]] = {}
    series: list[np.ndarray] = []
    in_data = False
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n").strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"{source}: line {line_no}: expected a header line starting with '@' "
                                f"before @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "attribute":
                parts = value.split()
                if len(parts) != 2 or parts[1] not in ("numeric", "date", "string"):
                    raise DataError(f"{source}: line {line_no}: expected '@attribute NAME "
                                    f"numeric|date|string', got {line!r}")
                attr_names.append(parts[0])
                attr_types.append(parts[1])
                attributes[parts[0]] = []
            elif key == "data":
                in_data = True
            else:
                metadata[key] = value.strip()
            continue
        fields = line.split(":", len(attr_names))
        if len(fields) != len(attr_names) + 1:
            raise DataError(f"{source}: line {line_no}: expected {len(attr_names)} attribute(s) "
                            f"{attr_names} and the values, separated by ':'")
        for name, kind, text in zip(attr_names, attr_types, fields[:-1]):
            attributes[name].append(_tsf_attribute(text, kind, source, line_no, name))
        try:
            values = [np.nan if v.strip() == "?" else float(v) for v in fields[-1].split(",")]
        except ValueError:
            bad = next(v for v in fields[-1].split(",") if v.strip() != "?" and not is_float(v))
            raise DataError(f"{source}: line {line_no}: value {bad!r} is not a number or '?'") from None
        series.append(np.asarray(values, dtype=np.float64))
    if not in_data:
        raise DataError(f"{source}: no @data line found; is this a .tsf file?")
    if not series:
        raise DataError(f"{source}: the @data section holds no series")
    return TSFData(series, attributes, metadata)


def _tsf_attribute(text: str, kind: str, source: str, line_no: int, name: str) -> Any:
    try:
        if kind == "numeric":
            return float(text)
        if kind == "date":
            return datetime.strptime(text.strip(), "%Y-%m-%d %H-%M-%S")
    except ValueError:
        raise DataError(f"{source}: line {line_no}: attribute {name!r} ({kind}): cannot read {text!r}") from None
    return text


def read_tsf(path: str | os.PathLike[str]) -> TSFData:
    """Read a ``.tsf`` file (cp1252, as Monash's own reader assumes; CRLF or LF)."""
    path = Path(path)
    with open(path, encoding="cp1252", newline="") as handle:
        return parse_tsf(handle, source=str(path))



__all__ = ["TSFData", "is_float", "parse_tsf", "read_tsf"]
