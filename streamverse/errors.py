"""Errors that users see: each says what is wrong and where."""

from __future__ import annotations


class StreamVerseError(Exception):
    """Base for errors shown to users without a traceback."""


class ConfigError(StreamVerseError):
    """A configuration file is wrong; names the file, line and field so it can be fixed."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}" if where else self.message


class UsageError(StreamVerseError):
    """A command was called with arguments that cannot work."""
