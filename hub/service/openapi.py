"""The OpenAPI document, generated from the routes each resource module declares
(`routes`: a list of :class:`Route`) and the pydantic models of npuhub.hub.schemas: the
request bodies people send, the answers, and the status codes each handler answers.

A leaf module: resources import it, it imports no resource (the assembly is routes.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from npuhub.hub.schemas.common import Error

API = "/api/v1"
REF = "#/components/schemas/{model}"
_GROUP = re.compile(r"\(\?P<(\w+)>([^()]*)\)")
ERRORS = {
    400: "Bad input; the message names the field",
    401: "No token",
    403: "Not allowed (or an invalid token)",
    404: "No such thing (or not yours)",
    405: "Method not allowed",
    409: "Conflicts with the current state",
    413: "Too large",
    429: "Too many at once",
    502: "The hub refused",
    503: "No capacity now",
}


@dataclass(frozen=True)
class Op:
    """One operation: what it does, what it takes, what it answers.

    `answers`: status → the model of the body (a model, `[Model]` for a list, a JSON
    schema dict, or None for no body); `errors`: the refusal statuses beside those of
    every authenticated call (401, 403); `also`: other media types (→ JSON schema) a
    successful answer may come in, chosen by a query parameter."""

    summary: str
    answers: dict[int, Any]
    body: type[BaseModel] | None = None
    query: dict[str, dict] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    admin: bool = False
    also: dict[str, dict] = field(default_factory=dict)  # other media types of a 2xx


@dataclass(frozen=True)
class Route:
    """A tornado route (`pattern`, relative to the service prefix) with its operations
    (method → Op). Its OpenAPI path and path parameters come from the pattern's groups."""

    pattern: str
    handler: type
    ops: dict[str, Op]
    public: bool = False

    @property
    def path(self) -> str:
        return _GROUP.sub(lambda m: "{" + m.group(1) + "}", self.pattern.removeprefix(API))

    @property
    def params(self) -> list[dict]:
        return [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "pattern": f"^{rx}$"}}
            for name, rx in _GROUP.findall(self.pattern)
        ]


def handlers(routes: list[Route], prefix: str) -> list[tuple[str, type]]:
    return [(prefix.rstrip("/") + r.pattern, r.handler) for r in routes]


def _models(routes: list[Route]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Error": Error}
    for r in routes:
        for op in r.ops.values():
            for m in [op.body, *op.answers.values()]:
                m = m[0] if isinstance(m, list) else m
                if isinstance(m, type) and issubclass(m, BaseModel):
                    found[m.__name__] = m
    return list(found.values())


def _content(model: Any) -> dict | None:
    if model is None:
        return None
    if isinstance(model, list):
        schema = {"type": "array", "items": {"$ref": REF.format(model=model[0].__name__)}}
    elif isinstance(model, dict):
        schema = model
    else:
        schema = {"$ref": REF.format(model=model.__name__)}
    return {"application/json": {"schema": schema}}


def _operation(route: Route, op: Op) -> dict:
    out: dict = {"summary": op.summary + (" (admin)" if op.admin else "")}
    params = route.params + [
        {"name": k, "in": "query", "required": False, "schema": v} for k, v in op.query.items()
    ]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _content(op.body)}
    answers: dict[str, dict] = {}
    for status, model in op.answers.items():
        answers[str(status)] = {"description": "OK" if status < 300 else ERRORS.get(status, "")}
        if (content := _content(model)) is not None:
            answers[str(status)]["content"] = content | {
                media: {"schema": schema} for media, schema in op.also.items()}
    codes = set(op.errors) | ({400} if op.body is not None else set())
    codes |= {404} if route.params else set()  # a parameter no route matches
    codes |= set() if route.public else {401, 403}
    for status in sorted(codes):
        answers[str(status)] = {"description": ERRORS[status], "content": _content(Error)}
    out["responses"] = answers
    if route.public:
        out["security"] = []
    return out


def spec(routes: list[Route], base_url: str) -> dict:
    paths: dict = {}
    for r in routes:
        if not r.pattern.startswith(API + "/"):
            continue
        for method, op in r.ops.items():
            paths.setdefault(r.path, {})[method.lower()] = _operation(r, op)
    _, defs = models_json_schema([(m, "validation") for m in _models(routes)],
                                 ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "npuhub platform API",
            "version": "1",
            "description": "NPUs, quotas, usage, datasets, batch jobs and courses of npuhub. "
            "Authenticate with a JupyterHub token: `Authorization: token <token>`.",
        },
        "servers": [{"url": base_url.rstrip("/") + API}],
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"token": []}],
        "paths": paths,
    }
