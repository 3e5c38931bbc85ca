"""Every route of the platform service and the OpenAPI document generated from them:
the one place that assembles the resource modules (they do not import each other's
assembly, so there is no import cycle)."""

from __future__ import annotations

from . import (
    autograde,
    courses,
    datasets,
    devices,
    grading,
    health,
    jobs,
    me,
    metrics,
    nodes,
    queue,
    quotas,
    usage,
    usage_report,
    users,
)
from .openapi import Route, handlers, spec

RESOURCES = [
    health, me, devices, nodes, queue, quotas, usage, datasets, jobs, courses, autograde, grading,
    users,
]
ROUTES: list[Route] = [r for module in RESOURCES for r in module.routes]


# answers that are not JSON resources of the OpenAPI document: Prometheus' text format,
# and the usage report's pictures and CSV
UNDOCUMENTED = [metrics, usage_report]


def service_handlers(prefix: str) -> list[tuple[str, type]]:
    extra = [
        (prefix.rstrip("/") + pattern, handler)
        for module in UNDOCUMENTED
        for pattern, handler in module.default_handlers
    ]
    return extra + handlers(ROUTES, prefix)


def openapi(base_url: str) -> dict:
    return spec(ROUTES, base_url)
