"""Files a user names (certificates, keys, config, key files): opened as regular files only, read up to a cap.

``/dev/zero``, a FIFO or a directory given where a certificate belongs is one clear error, never a hang.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certrotor.errors import InputError

MAX_USER_FILE_BYTES = 1 << 20
"""1 MiB: far above any certificate, key, PKCS#12 bundle or config file certrotor reads."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
"""Non-blocking so that opening a FIFO with no writer returns at once (and is then refused)."""


def read_user_file(
    path: Path,
    *,
    hint: str,
    what: str | None = None,
    limit: int = MAX_USER_FILE_BYTES,
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, or an InputError in one line.

    The message names ``what`` (``"the key file"``) before the path when given; ``hint`` says what
    to give instead.
    """
    shown = f"{what} {path}" if what else str(path)
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise InputError(f"Cannot read {shown}: {exc.strerror or exc}.", hint=hint) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"Cannot read {shown}: it is not a regular file.", hint=hint)
        if info.st_size > limit:
            raise InputError(f"Cannot read {shown}: it is larger than {_size(limit)}.", hint=hint)
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise InputError(f"Cannot read {shown}: {exc.strerror or exc}.", hint=hint) from None
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > limit:  # the file grew while we read it
        raise InputError(f"Cannot read {shown}: it is larger than {_size(limit)}.", hint=hint)
    return data


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
