"""Load a user's own time series from .csv (optionally .csv.gz), .npy or .npz.

Only NumPy and the standard ``csv`` module are used. Every problem is reported as a
:class:`~kernelops.errors.DataError` that names the file and, for CSV, the column, the row
and the offending value, because "could not convert string to float" helps nobody.

CSV rules: a header row is required; a first column named date/time/timestamp/datetime (any
case), or whose values parse as dates, is dropped (the reason goes into the dataset's
``source``); every other column must be numeric. An empty or ``nan`` cell is a missing value
(NaN: ``kernelops fit`` trains on the observed entries only); infinite cells are errors. Pick
columns with ``columns=`` (``--columns`` on the command line): names or 0-based indices.

NumPy rules: a 1-d array is one channel, a 2-d array is a series (T, d), a 3-d array (n, N, d)
is taken as already windowed and used as is. NaN marks a missing value, infinity is an error.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.data.base import WindowDataset
from kernelops.data.checks import check_features
from kernelops.data.scaling import MinMaxScaler
from kernelops.data.windows import sliding_windows
from kernelops.errors import DataError

Columns = str | Sequence[str | int] | None

DATE_COLUMN_NAMES = frozenset({"date", "time", "timestamp", "datetime"})
_DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y",
    "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d-%m-%Y",
    "%d-%m-%Y %H:%M", "%Y%m%d %H:%M", "%b %d, %Y", "%d %b %Y",
)
SUPPORTED = (".csv", ".csv.gz", ".npy", ".npz")


@dataclass
class LoadedSeries:
    """What a loader read: the array, one name per feature, and notes on what it dropped.

    Shape:
        values: (T, d) for a series or (n, N, d) for pre-windowed data, float64.
    """

    values: np.ndarray
    feature_names: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def windowed(self) -> bool:
        return self.values.ndim == 3


def load_series(path: str | os.PathLike[str], columns: Columns = None, *, key: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a user file into a float64 array and feature names.

    Args:
        path: a .csv, .csv.gz, .npy or .npz file.
        columns: features to keep: names or 0-based indices, or one comma-separated string.
        key: for .npz, the array to read; required when the archive holds several (the error
            lists them), optional for a single-array archive.

    Returns:
        ``(values, feature_names)``; values is (T, d), or (n, N, d) for a 3-d .npy/.npz
        (already windowed).

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: unsupported extension, no header, non-numeric column, empty/NaN/inf cell...
    """
    loaded = read_user_file(path, columns, key=key)
    return loaded.values, loaded.feature_names


def read_user_file(path: str | os.PathLike[str], columns: Columns = None, *, key: str | None = None) -> LoadedSeries:
    """Like :func:`load_series` but also returns the notes (e.g. which date column was dropped)."""
    p = Path(path)
    if not p.exists():
        if p.is_symlink():  # exists() follows the link: a dangling or looping one lands here
            raise FileNotFoundError(f"{p}: a symbolic link to nothing readable (it points to {os.readlink(p)!r}, "
                                    "which is missing or loops back); point it at the data file")
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory; expected a {', '.join(SUPPORTED)} file")
    name = p.name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return _read_csv(p, columns)
    if name.endswith(".npy") or name.endswith(".npz"):
        return _read_numpy(p, columns, key)
    raise DataError(f"{p}: unsupported file type; expected one of {', '.join(SUPPORTED)}")


def load_user_windows(path: str | os.PathLike[str], window: int = 24, stride: int = 1, columns: Columns = None,
                      *, key: str | None = None) -> WindowDataset:
    """Load a user file, min-max scale each feature over the whole series, and window it.

    A 3-d (n, N, d) array is already windowed: it is scaled and used as is, and ``window`` /
    ``stride`` are ignored (the ``source`` says so).

    Shape:
        returns.windows: (num, window, d) float32 in [0, 1]; returns.series: (T, d) raw or None.
    """
    loaded = read_user_file(path, columns, key=key)
    p = Path(path)
    stem = p.name[: -len(".csv.gz")] if p.name.lower().endswith(".csv.gz") else p.stem
    notes = list(loaded.notes)
    values: Any = loaded.values  # an array; sliding_windows returns the input's type
    if not loaded.windowed and values.shape[0] < window:
        raise DataError(f"{p}: the series has {values.shape[0]} steps, fewer than the window "
                        f"of {window}; use a smaller --window or a longer series")
    check_features(values, loaded.feature_names, p)
    scaler = MinMaxScaler().fit(values)
    if loaded.windowed:
        windows, series = scaler.transform(values), None
        notes.append(f"pre-windowed {values.shape[0]}x{values.shape[1]}x{values.shape[2]}; window/stride ignored")
    else:
        # float32 before windowing (the dataset stores float32): half the memory, same values
        windows, series = sliding_windows(scaler.transform(values).astype(np.float32), window, stride), values
        notes.append(f"{values.shape[0]} steps, window {window}, stride {stride}")
    return WindowDataset(name=stem, windows=windows, scaler=scaler, feature_names=loaded.feature_names,
                         source=f"{p} ({'; '.join(notes)})", series=series)


# -- CSV -------------------------------------------------------------------------------------
def _open_text(p: Path) -> io.TextIOBase:
    # utf-8-sig swallows the byte-order mark that spreadsheet exports put before the header
    if p.name.lower().endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8-sig", newline="")
    return open(p, encoding="utf-8-sig", newline="")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_date(text: str) -> bool:
    """Whether ``text`` is a date or timestamp (ISO 8601 or a common day/month/year form)."""
    text = text.strip()
    if not text or _is_number(text):
        return False
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


def _read_csv(p: Path, columns: Columns) -> LoadedSeries:
    try:
        with _open_text(p) as handle:
            first = handle.readline()
            delimiter = ","
            if "," not in first:
                delimiter = next((c for c in (";", "\t") if c in first), ",")
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            rows: list[list[str]] = []
            lines: list[int] = []  # file line of each data row, for messages
            header: list[str] | None = None
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank line
                if header is None:
                    header = [cell.strip() for cell in row]
                    continue
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise DataError(f"{p}: cannot parse as CSV: {exc}") from exc
    if header is None:
        raise DataError(f"{p}: the file is empty; expected a header row and data rows")
    if all(_is_number(cell) for cell in header if cell):
        raise DataError(f"{p}: the first line {','.join(header)[:60]!r} looks like data, not a header; "
                        "add a header row naming the columns")
    if not rows:
        raise DataError(f"{p}: has a header but no data rows")
    notes: list[str] = []
    if len(header) > 1 and not header[-1] and all(
            len(r) == len(header) - 1 or (len(r) == len(header) and not r[-1].strip()) for r in rows):
        # "a,b," (a trailing delimiter) names no third column: drop the empty one instead of inventing a name
        header, rows = header[:-1], [r[:len(header) - 1] for r in rows]
        notes.append("ignored the empty column after a trailing delimiter")
    header = [h or f"column{j}" for j, h in enumerate(header)]
    for row, line in zip(rows, lines):
        if len(row) != len(header):
            raise DataError(f"{p}: line {line} has {len(row)} fields, the header has {len(header)}")

    if columns is None:
        selected = list(range(len(header)))
        reason = _date_reason(header[0], [r[0] for r in rows[:5]])
        if reason:
            selected = selected[1:]
            notes.append(f"dropped column {header[0]!r}: {reason}")
        if not selected:
            raise DataError(f"{p}: no columns left after dropping the date column {header[0]!r}")
    else:
        selected = _select_columns(p, header, columns)

    data = np.empty((len(rows), len(selected)), dtype=np.float64)
    for k, j in enumerate(selected):
        cells = [row[j] if row[j].strip() else "nan" for row in rows]  # an empty cell is a missing value
        try:
            data[:, k] = np.asarray(cells, dtype=np.float64)
        except ValueError:
            _raise_bad_cell(p, header, j, cells, lines, rows)
        infinite = np.isinf(data[:, k])
        if infinite.any():
            i = int(np.argmax(infinite))
            raise DataError(f"{p}: column {header[j]!r} has an infinite value {cells[i].strip()!r} at "
                            f"row {i + 1} (line {lines[i]}); clean it or leave the cell empty (missing)")
        if np.isnan(data[:, k]).all():
            raise DataError(f"{p}: column {header[j]!r} has no values (every cell is empty or nan)")
    return LoadedSeries(data, [header[j] for j in selected], notes)


def _date_reason(name: str, first_values: list[str]) -> str:
    if name.strip().lower() in DATE_COLUMN_NAMES:
        return "named like a timestamp"
    values = [v for v in first_values if v.strip()]
    if values and all(looks_like_date(v) for v in values):
        return f"its values parse as dates (e.g. {values[0].strip()!r})"
    return ""


def _raise_bad_cell(p: Path, header: list[str], j: int, cells: list[str], lines: list[int],
                    rows: list[list[str]]) -> None:
    numeric = [h for jj, h in enumerate(header) if all(_is_number(r[jj]) for r in rows[:20])]
    hint = f" (e.g. --columns {','.join(numeric)})" if numeric else ""
    for i, cell in enumerate(cells):
        if not cell.strip():
            raise DataError(f"{p}: column {header[j]!r} has an empty cell at row {i + 1} (line {lines[i]}); "
                            "fill or drop missing values first")
        if not _is_number(cell):
            raise DataError(f"{p}: column {header[j]!r} is not numeric: row {i + 1} (line {lines[i]}) has "
                            f"{cell.strip()[:40]!r}; choose numeric columns with --columns{hint}")
    raise DataError(f"{p}: column {header[j]!r} cannot be read as numbers")  # pragma: no cover


def _parse_columns(columns: Columns) -> list[str | int]:
    if isinstance(columns, str):
        return [c.strip() for c in columns.split(",") if c.strip()]
    return list(columns or [])


def _select_columns(p: Path, header: list[str], columns: Columns) -> list[int]:
    wanted = _parse_columns(columns)
    if not wanted:
        raise DataError(f"columns: expected at least one column name or index, got {columns!r}")
    lower = {h.lower(): j for j, h in reversed(list(enumerate(header)))}
    selected = []
    for c in wanted:
        if isinstance(c, str) and c in header:
            selected.append(header.index(c))
        elif isinstance(c, str) and c.lower() in lower:
            selected.append(lower[c.lower()])
        elif (isinstance(c, int) and not isinstance(c, bool)) or (isinstance(c, str) and c.lstrip("-").isdigit()):
            j = int(c)
            if not -len(header) <= j < len(header):
                raise DataError(f"{p}: column index {j} is out of range; the file has {len(header)} columns")
            selected.append(j % len(header))
        else:
            raise DataError(f"{p}: no column {c!r}; columns are: {', '.join(header)}")
    return selected


# -- NumPy -----------------------------------------------------------------------------------
def _read_numpy(p: Path, columns: Columns, key: str | None) -> LoadedSeries:
    notes: list[str] = []
    try:
        if p.name.lower().endswith(".npz"):
            with np.load(p, allow_pickle=False) as archive:
                names = list(archive.files)
                if not names:
                    raise DataError(f"{p}: the .npz archive holds no arrays")
                if key is None and len(names) > 1:
                    raise DataError(f"{p}: the .npz archive holds {len(names)} arrays ({', '.join(names)}); "
                                    "choose one with --key NAME (key= in Python)")
                chosen = key if key is not None else names[0]
                if chosen not in names:
                    raise DataError(f"{p}: no array {chosen!r}; the archive holds: {', '.join(names)}")
                arr = archive[chosen]
                if len(names) > 1:
                    notes.append(f"array {chosen!r} of {names}")
        else:
            arr = np.load(p, allow_pickle=False)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{p}: cannot read as a NumPy file: {exc}") from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise DataError(f"{p}: expected a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim not in (2, 3):
        raise DataError(f"{p}: expected a series (T, d) or windows (n, N, d), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    infinite = np.isinf(arr)  # NaN marks a missing value
    if infinite.any():
        bad = tuple(int(i) for i in np.argwhere(infinite)[0])
        raise DataError(f"{p}: contains {int(infinite.sum())} infinite value(s); first at index {bad} "
                        "(use NaN to mark a missing value)")
    names = [f"x{k}" for k in range(arr.shape[-1])]
    if columns is not None:
        idx = _select_columns(p, names, columns)
        arr, names = arr[..., idx], [names[j] for j in idx]
    return LoadedSeries(np.ascontiguousarray(arr), names, notes)
