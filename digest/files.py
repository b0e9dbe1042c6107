"""Files written whole or not at all: a reader (another build, `digest serve`, a browser) never sees half of one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write that takes `path`'s place when the block ends, and is removed if the block raises.
    It is written beside `path` under this process's id, so two processes writing the same file never mix their
    bytes (the last to finish wins)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def replace_bytes(path: Path, data: bytes) -> None:
    """`path` holds `data`, written whole (`replacing`)."""
    with replacing(path) as f:
        f.write(data)
