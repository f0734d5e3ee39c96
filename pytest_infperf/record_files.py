"""Records on disk: JSON lines appended under a lock, written atomically (a temporary file renamed over the
old one, its mode kept), read back with each line checked, and as a pandas DataFrame for the reports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .records import Record, RecordError, check_record

if TYPE_CHECKING:
    import pandas


def append_records(path: Path, records: Iterable[Record]) -> None:
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in records)
    with FileLock(str(path) + ".lock"):
        with path.open("a") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it and rename it over `path`: readers see the old
    file or the new one, never half of one (records and baselines both rely on it)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
        # mkstemp makes the file 0600; a baseline or records file is shared like any file the user writes
        os.fchmod(f.fileno(), path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    """The process's umask (read by setting it, the only way, and setting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Replace a records file (atomically, under its lock): the session end rewrites its final verdicts."""
    from filelock import FileLock

    with FileLock(str(path) + ".lock"):
        atomic_write(path, "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in records))


def read_records(path: Path) -> list[Record]:
    """Every record of a JSON-lines file; a bad line is an error naming the file and line."""
    records = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise RecordError(f"{path}: no such records file") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise RecordError(f"{path}:{number}: not valid JSON ({err.msg})") from None
        records.append(check_record(data, f"{path}:{number}"))
    return records


def to_dataframe(records: list[dict[str, Any]]) -> "pandas.DataFrame":
    import pandas

    return pandas.DataFrame.from_records(records)
