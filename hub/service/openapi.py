"""The OpenAPI document, assembled from each resource module's `openapi_paths`."""

from __future__ import annotations

import functools


def op(summary: str, *, admin: bool = False, body: str | None = None, params=()) -> dict:
    """One operation, briefly: what it does, who may call it, what it takes."""
    o: dict = {
        "summary": summary + (" (admin)" if admin else ""),
        "responses": {
            "200": {"description": "OK"},
            "400": {"description": "Bad input; the message names the field"},
            "403": {"description": "Not allowed"},
        },
    }
    if params:
        o["parameters"] = [
            {"name": p, "in": "path" if p in ("name", "id", "group", "a") else "query",
             "required": p in ("name", "id", "group", "a"), "schema": {"type": "string"}}
            for p in params
        ]
    if body:
        o["requestBody"] = {
            "content": {"application/json": {"schema": {"type": "object", "description": body}}}
        }
    return o


@functools.cache
def _paths() -> dict:
    from .app import RESOURCES

    paths: dict = {}
    for module in RESOURCES:
        for path, ops in getattr(module, "openapi_paths", {}).items():
            paths.setdefault(path, {}).update(ops)
    return paths


def spec(base_url: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "npuhub platform API",
            "version": "1",
            "description": "NPUs, quotas, usage, datasets, batch jobs and courses of npuhub. "
            "Authenticate with a JupyterHub token: `Authorization: token <token>`.",
        },
        "servers": [{"url": base_url.rstrip("/") + "/api/v1"}],
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            }
        },
        "security": [{"token": []}],
        "paths": _paths(),
    }
