"""Where a demo may write: Landlock confines a process (and all it starts) to writing under given folders.

Landlock is the Linux kernel's unprivileged sandbox (5.13 and newer, when enabled). `WriteJail` builds a
ruleset in the parent that handles every kind of write (create, write, truncate, remove, rename, link) and allows
them only beneath the given folders and on the given files (/dev/null); reading and running stay open. The child
enters it between fork and exec (`enter`), so the demo itself never runs unconfined. Where Landlock is missing
(an older kernel, a container whose seccomp filter refuses the calls), `WriteJail.create` returns None and the
caller falls back to comparing the project tree before and after (`tree_snapshot`, `changed_files`): writes
inside the project are then caught after the fact, writes elsewhere are not prevented.

The system calls are made through ctypes (x86_64 and aarch64 numbers); no dependency is needed.
"""

from __future__ import annotations

import ctypes
import os
import platform
from dataclasses import dataclass
from pathlib import Path

# Syscall numbers are the same on x86_64 and aarch64 (Landlock came after the unified table).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights (include/uapi/linux/landlock.h), the writes only: reading and executing stay open.
WRITE_FILE, REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 1, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2 (rename/link across folders), ABI 3 (truncate)
WRITES_V1 = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO
             | MAKE_BLOCK | MAKE_SYM)
FILE_RIGHTS = WRITE_FILE | TRUNCATE  # the only write rights a rule on a single file may carry


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_prctl = _libc.prctl


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or a filter refuses the call)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return 0
    version = _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(result)


@dataclass
class WriteJail:
    """A Landlock ruleset (its file descriptor, open in this process) allowing writes only under `folders`."""

    fd: int
    folders: tuple[Path, ...]

    @classmethod
    def create(cls, folders: list[Path], files: list[Path] = (Path("/dev/null"),)) -> WriteJail | None:
        """The ruleset, or None when this kernel (or its seccomp filter) offers no Landlock."""
        abi = landlock_abi()
        if abi < 1:
            return None
        handled = WRITES_V1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
        attr = ctypes.c_uint64(handled)  # struct landlock_ruleset_attr's first field; the rest may be left out
        fd = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
        if fd < 0:
            return None
        try:
            for path, rights in [(p, handled) for p in folders] + [(p, handled & FILE_RIGHTS) for p in files]:
                target = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    rule = _PathBeneath(rights, target)
                    _check(_syscall(SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(RULE_PATH_BENEATH),
                                    ctypes.byref(rule), ctypes.c_uint32(0)), f"landlock_add_rule({path})")
                finally:
                    os.close(target)
        except OSError:
            os.close(fd)
            return None
        return cls(fd, tuple(Path(p) for p in folders))

    def enter(self) -> None:
        """Confine the calling process for good (call it in the child, between fork and exec)."""
        _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(_syscall(SYS_RESTRICT_SELF, ctypes.c_int(self.fd), ctypes.c_uint32(0)), "landlock_restrict_self")

    def close(self) -> None:
        os.close(self.fd)

    def allows(self, path: str) -> bool:
        """Whether `path` lies in a folder this jail lets the process write."""
        resolved = Path(os.path.realpath(path))
        return any(resolved.is_relative_to(os.path.realpath(folder)) for folder in self.folders)


def tree_snapshot(root: Path, skip: list[Path]) -> dict[str, tuple[int, int]]:
    """Every file under `root` (symlinks not followed, `skip` folders left out): relative path -> (mtime, size)."""
    skipped = {os.path.realpath(p) for p in skip}
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(folder, d)) not in skipped]
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            found[os.path.relpath(path, root)] = (info.st_mtime_ns, info.st_size)
    return found


def changed_files(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Paths created, changed or removed between two snapshots, sorted."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
