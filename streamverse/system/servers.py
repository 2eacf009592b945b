"""Ports of the live services: fixed offsets from the base port, or free ones."""

from __future__ import annotations

from streamverse.settings import Settings


def port_for(settings: Settings, offset: int) -> int:
    return 0 if settings.base_port == 0 else settings.base_port + offset


