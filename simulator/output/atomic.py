"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; results are ordinary files.
_FILE_MODE = 0o666 & ~_umask()


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class WriteFailed(Exception):
    """Results could not be written (disk full, read-only, ...): one line for the user, exit 1."""

    def __init__(self, path: str | Path, error: OSError):
        self.path = Path(path)
        self.reason = error.strerror or str(error)
        super().__init__(f"cannot write {path}: {self.reason}")


def unwritable(out: str | Path, error: OSError, existed: bool) -> str:
    """The one-line refusal of an output folder that cannot be created or written."""
    reason = "a file is in the way" if isinstance(error, FileExistsError) else error.strerror or str(error)
    what = "cannot write there" if existed else "cannot create the folder"
    return f"error: --out {out}: {what}: {reason}"


def move_aside(folder: Path, names: list[str]) -> Path | None:
    """Move ``folder``'s ``names`` that exist into ``folder/.old-<timestamp>/`` (never delete them).

    The new folder, or None when there was nothing to move.
    """
    present = [name for name in names if (folder / name).exists()]
    if not present:
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = folder / f".old-{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = folder / f".old-{stamp}-{n}"
    aside.mkdir()
    for name in present:
        os.replace(folder / name, aside / name)
    return aside
