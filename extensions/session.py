"""This server's own session: what it runs on.

    from npuhub.extensions import session
    session.provenance()   # {"image": {"reference", "digest"}, "node", "devices",
                           #  "npu_driver", "cann", "datasets", "account", "started", ...}

The record is kept by the platform when the server started (on its usage record), so a
result can later be traced to the image digest, devices and dataset versions it used.
"""

from __future__ import annotations

import os

from . import client


def provenance(server: str | None = None) -> dict:
    """The record of this server (or of your running server named `server`)."""
    name = os.environ.get("JUPYTERHUB_SERVER_NAME", "") if server is None else server
    return client.request("GET", "/me/session", params={"server": name})
