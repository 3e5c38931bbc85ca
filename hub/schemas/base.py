"""The two kinds of model (what people send, what the platform answers) and the one
place a pydantic ValidationError becomes a sentence that names the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

API_VERSION = "npuhub/v1"  # the `apiVersion` files may carry


class SchemaError(ValueError):
    """Input that does not fit its model; str() names the field and what was wrong."""


class Body(BaseModel):
    """Something people send: unknown fields refused, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class Reply(BaseModel):
    """Something the platform answers: documents the fields it always has; answers may
    carry more (additional properties stay allowed)."""

    model_config = ConfigDict(extra="allow")


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _sentence(model: type[BaseModel], err: dict) -> str:
    # union members add their type names to loc ("npus.int"): drop them for the person
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(_TYPE_TAGS)))
    where = _where(loc) or model.__name__
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(f.alias or n for n, f in model.model_fields.items())
        if len(loc) == 1:
            return f"unknown field {where!r}; allowed: {allowed}"
        return f"unknown field {where!r}"
    if err["type"] == "missing":
        return f"{where}: missing (required)"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg[0].lower() + msg[1:]}" if msg else where


_TYPE_TAGS = ("str", "int", "float", "bool", "dict[", "list[", "function-", "constrained-",
              "literal[", "datetime", "date", "none")


def message(model: type[BaseModel], e: ValidationError) -> str:
    """The readable refusal of `e`: each field once (a field that fits none of its
    alternatives says what it expects), at most three."""
    by_field: dict[object, list[dict]] = {}
    for err in e.errors(include_url=False):
        by_field.setdefault(err["loc"][0] if err["loc"] else None, []).append(err)
    parts = []
    for name, errs in by_field.items():
        info = model.model_fields.get(name) if isinstance(name, str) else None
        kinds = {err["type"] for err in errs}
        if len(errs) > 1 and info is not None and info.description and "missing" not in kinds:
            parts.append(f"{name}: expected {info.description[0].lower()}"
                         f"{info.description[1:]}")
        else:
            parts.append(_sentence(model, errs[0]))
    more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
    return "; ".join(parts[:3]) + more


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """`model` of `data`, or SchemaError with a readable message naming the field."""
    if not isinstance(data, dict):
        raise SchemaError(f"{model.__name__}: expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SchemaError(message(model, e)) from None
