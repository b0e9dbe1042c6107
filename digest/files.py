"""Files written whole or not at all: a reader (another build, `digest serve`, a browser) never sees half of one;
and caches of many small entries kept in one file (`Pack`)."""

from __future__ import annotations

import contextlib
import os
import struct
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


class Pack:
    """Entries by key (64 hex digits) in one file that builds append to: each page's conversion
    (`pagecache.PageConverter`), each search document (`search.IndexBuilder`). An entry: the key, the lengths of
    its tag and of its data (`ENTRY`), the tag (what it belongs to, such as a page's path), the data. Entries are
    read with `os.pread`, not through a memory map, whose touched pages would count in the build's memory (at
    10,000 papers a language's conversions are 170 MB). A torn last entry (a build stopped while writing it) ends
    the file as read, and the next entry written replaces it.

    One file, not a file per entry: making a file costs the kernel 0.2-0.5 ms of CPU on the machines this was
    measured on (ext4 without a journal passes over every recently deleted inode to find a free one): a first
    build at 1,000 papers made 2,158 conversions in 512 folders, about 1.3 s of CPU (README: Scale)."""

    ENTRY = struct.Struct("<64sHI")

    def __init__(self, path: Path):
        self.path = path
        self.index: dict[str, tuple[str, int, int]] = {}  # key -> (tag, start of the data, its length)
        self.end = 0  # where the last whole entry ends
        self.used: set[str] = set()  # the keys read, kept or written by this build
        self.out = None  # the file, open to append, once this build has written an entry
        self.fd: int | None = None
        try:
            self.fd = os.open(path, os.O_RDONLY)
        except OSError:  # none yet
            return
        size, entry = os.fstat(self.fd).st_size, self.ENTRY
        while self.end + entry.size <= size:
            head = os.pread(self.fd, entry.size + 256, self.end)
            key, tag_length, length = entry.unpack_from(head)
            start = self.end + entry.size + tag_length
            if start + length > size:
                break
            tag = head[entry.size:entry.size + tag_length]
            if len(tag) < tag_length:
                tag = os.pread(self.fd, tag_length, self.end + entry.size)
            self.index[key.decode("ascii", "replace")] = (tag.decode("utf-8", "replace"), start, length)
            self.end = start + length

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def get(self, key: str) -> bytes | None:
        """The data under `key`, kept by this build; None if there is none (or it cannot be read whole)."""
        found = self.index.get(key)
        if found is None or self.fd is None:
            return None
        if self.out is not None:
            self.out.flush()
        data = os.pread(self.fd, found[2], found[1])
        if len(data) != found[2]:
            return None
        self.used.add(key)
        return data

    def keep(self, key: str) -> None:
        """Keep the entry under `key` unread."""
        self.used.add(key)

    def put(self, key: str, data: bytes, tag: str = "") -> None:
        """Append an entry now (a build of 10,000 pages does not hold them all until it ends)."""
        try:
            if self.out is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.out = open(self.path, "r+b" if self.fd is not None else "wb")  # noqa: SIM115 - closed in save
                self.out.seek(self.end)
                self.out.truncate()  # a torn entry, if the last build left one
            self.out.write(self._head(key, tag, len(data)) + data)
        except OSError:  # a read-only checkout, a full disk: the cache only saves time
            self.out = None
            return
        start = self.end + self.ENTRY.size + len(tag.encode("utf-8"))
        self.index[key], self.end = (tag, start, len(data)), start + len(data)
        self.used.add(key)

    def newest(self) -> set[str]:
        """The key of the last entry of each tag."""
        return set({tag: key for key, (tag, _, _) in self.index.items()}.values())

    def save(self, keep: set[str], whenever: bool = False) -> None:
        """End this build's writing. The entries not in `keep` are dropped, the file written anew, when they
        outweigh the rest (the file then holds at least half of what is kept), or `whenever` there are any."""
        try:
            if self.out is not None:
                self.out.close()
                self.out = None
            kept_bytes = sum(self.ENTRY.size + len(tag.encode("utf-8")) + length
                             for key, (tag, _, length) in self.index.items() if key in keep)
            if any(key not in keep for key in self.index) and (whenever or self.end > 2 * kept_bytes):
                with open(self.path, "rb") as old, replacing(self.path) as f:
                    for key, (tag, start, length) in self.index.items():
                        if key in keep:
                            f.write(self._head(key, tag, length) + os.pread(old.fileno(), length, start))
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def _head(self, key: str, tag: str, length: int) -> bytes:
        encoded = tag.encode("utf-8")
        return self.ENTRY.pack(key.encode("ascii"), len(encoded), length) + encoded

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    __del__ = close  # a build that failed before saving (`digest serve` runs many in one process)
