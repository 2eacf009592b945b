"""Roles of the control plane, ordered so a check reads `token.role >= Role.responder`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

_RANK = {"viewer": 0, "responder": 1, "admin": 2}


class Role(StrEnum):
    """viewer (read) < responder (ack, silence, runbooks) < admin (configuration, faults)."""

    viewer = "viewer"
    responder = "responder"
    admin = "admin"

    @property
    def rank(self) -> int:
        """Position in the ordering; higher roles may do everything lower ones may."""
        return _RANK[self.value]

    @property
    def letter(self) -> str:
        """The letter in token secrets (`sv_a_...`), so a leaked token shows its power."""
        return self.value[0]

    @classmethod
    def parse(cls, value: str) -> Role:
        """A role from its name, with an error that lists the valid ones."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            valid = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {value!r}; use one of: {valid}") from None

    def _other(self, other: Any) -> Role:
        if isinstance(other, Role):
            return other
        if isinstance(other, str):
            return Role(other)
        return NotImplemented  # type: ignore[return-value]

    def __lt__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is NotImplemented else self.rank < o.rank

    def __le__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is NotImplemented else self.rank <= o.rank

    def __gt__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is NotImplemented else self.rank > o.rank

    def __ge__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is NotImplemented else self.rank >= o.rank

    __hash__ = StrEnum.__hash__
