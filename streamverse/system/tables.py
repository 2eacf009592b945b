"""Every area's tables, registered with SQLModel's metadata before `init_db` creates them.

Each area owns its tables in its own `models` module; this list is the one place that
knows them all, so a fresh database (SQLite or PostgreSQL) gets every table at start-up.
"""

from __future__ import annotations

from types import ModuleType

from streamverse.alerts import models as alerts_models
from streamverse.api import models as api_models
from streamverse.collectors import models as collectors_models
from streamverse.incidents import models as incidents_models
from streamverse.platform import models as platform_models
from streamverse.platform import models_users as platform_users
from streamverse.platform.media import models as media_models
from streamverse.remediation import models as remediation_models

MODEL_MODULES: tuple[ModuleType, ...] = (
    api_models, platform_models, platform_users, media_models, collectors_models,
    alerts_models, incidents_models, remediation_models,
)


def register_tables() -> tuple[ModuleType, ...]:
    """The imported model modules (importing them is what registers their tables)."""
    return MODEL_MODULES
