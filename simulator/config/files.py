"""Reading a file a user named: the config, a trace it names, a result (docs/design.md §3, "Files").

Every such read goes through :func:`read_bounded_text`, so a FIFO, a device such as
``/dev/zero``, a directory or a huge file is refused in one line instead of hanging
or filling memory: the path is checked with ``stat`` before it is opened, opened
non-blocking (a FIFO with no writer would block ``open``), checked again on the open
descriptor, and read at most ``max_bytes + 1`` bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from simulator.config.keys import ConfigError

_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a pipe (FIFO)"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISSOCK, "is a socket"),
)


def _not_regular(mode: int) -> str | None:
    for test, words in _KINDS:
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "is not a regular file"


def _size_words(max_bytes: int) -> str:
    return f"{max_bytes // 2**20} MiB" if max_bytes >= 2**20 else f"{max_bytes:,} bytes"


def read_bounded_text(path: Path, what: str, max_bytes: int) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; ``ValueError`` (one line, naming it) else.

    ``what`` says what the file should have been ("config file", "trace CSV"). A
    leading UTF-8 byte-order mark is dropped (editors on Windows write one).
    """
    try:
        kind = _not_regular(os.stat(path).st_mode)
        if kind is not None:
            raise ValueError(f"{path}: {kind}, not a {what}")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            kind = _not_regular(info.st_mode)  # replaced between stat and open
            if kind is not None:
                raise ValueError(f"{path}: {kind}, not a {what}")
            if info.st_size > max_bytes:
                raise ValueError(f"{path}: larger than {_size_words(max_bytes)} ({info.st_size / 2**20:,.1f} MiB), the most a {what} may be")
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise ValueError(f"{path}: larger than {_size_words(max_bytes)}, the most a {what} may be")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}), not a {what}") from None


def read_text_file(path: Path, what: str, max_bytes: int) -> str:
    """:func:`read_bounded_text` with its failure as the CLI's one-line ``ConfigError``."""
    try:
        return read_bounded_text(Path(path), what, max_bytes)
    except ValueError as exc:
        raise ConfigError(f"error: {exc}") from None
