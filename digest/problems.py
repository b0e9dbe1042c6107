"""Problems found in the content: where (file:line:col), which field, what was expected, and a hint.

One error type, `DigestError`, carries them up to the CLI, which prints them and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    col: int
    field: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def format(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}" if self.line else self.path
        text = f"{where + ': ' if where else ''}{self.severity}: {self.field + ': ' if self.field else ''}{self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")

    def as_error(self) -> "Problem":
        return Problem(self.path, self.line, self.col, self.field, self.message, self.hint, "error")


class DigestError(Exception):
    """Raised with the problems that stop a command; the CLI prints them without a traceback."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("", 0, 0, "", problems)]
        self.problems = problems
        super().__init__("\n".join(p.format() for p in problems))


def relative(path: Path, root: Path) -> str:
    """`path` as the user typed it relative to the project, with forward slashes."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
