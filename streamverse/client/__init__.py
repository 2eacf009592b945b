"""Typed client of the control API, for the dashboard, the CLI and scripts.

`ControlClient` has one method per endpoint, each returning the models in
`streamverse.client.models` and `streamverse.client.reports`; `request()` stays for a raw call.
"""

from streamverse.client.control import ControlClient, Download, ReplyShapeError
from streamverse.client.transport import API_PREFIX, ApiError

__all__ = ["API_PREFIX", "ApiError", "ControlClient", "Download", "ReplyShapeError"]
