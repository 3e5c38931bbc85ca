"""Two copies that must agree: the routes of the platform service (its generated OpenAPI
document) and the allow-list of the Lab's forwarder (npuhub.extensions.serverext.ROUTES).
A route one gains and the other lacks fails here: either forward it, or name it below as
one the Lab does not forward."""

from __future__ import annotations

import re

from npuhub.extensions.serverext import ROUTES as FORWARDED
from npuhub.extensions.serverext import allowed
from npuhub.hub.service.routes import openapi

# operations of the service the Lab never calls through its forwarder: the operators'
# (admin) resources, a course's stored declaration, and the unauthenticated documents
NOT_FORWARDED = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/devices"),
    ("POST", "/nodes/{node}/drain"),
    ("POST", "/nodes/{node}/undrain"),
    ("GET", "/queue"),
    ("GET", "/quotas"),
    ("GET", "/quotas/{group}"),
    ("PUT", "/quotas/{group}"),
    ("GET", "/usage"),
    ("POST", "/datasets"),
    ("GET", "/datasets/{name}"),
    ("PUT", "/datasets/{name}"),
    ("DELETE", "/datasets/{name}"),
    ("GET", "/courses/{cid}"),
    ("POST", "/users/{name}/activation"),  # instructors use the CLI or the REST API
}


def service_operations() -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in openapi("/")["paths"].items() for m in item}


def example(path: str) -> str:
    """The path with each parameter filled in by a value every pattern accepts."""
    return re.sub(r"\{\w+\}", "1", path).lstrip("/")


def test_the_forwarder_allows_exactly_the_service_operations_the_lab_uses():
    ops = service_operations()
    assert NOT_FORWARDED <= ops, NOT_FORWARDED - ops
    forwarded = {(m, p) for m, p in ops if allowed(m, example(p))}
    assert forwarded == ops - NOT_FORWARDED


def test_every_forwarded_route_exists_in_the_service():
    ops = service_operations()
    for rx, methods in FORWARDED:
        for method in methods:
            assert any(m == method and rx.fullmatch(example(p)) for m, p in ops), (
                f"the Lab forwards {method} {rx.pattern}, which the service does not answer"
            )
