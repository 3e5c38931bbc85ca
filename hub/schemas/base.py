"""The two kinds of model (what people send, what the platform answers) and the one
place a pydantic ValidationError becomes a sentence that names the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from npuhub.hub import i18n

API_VERSION = "npuhub/v1"  # the `apiVersion` files may carry


class SchemaError(ValueError):
    """Input that does not fit its model; str() names the field and what was wrong (in
    English), :meth:`message` says it in a person's language."""

    def __init__(self, text: str, problems: list[tuple[str, dict]] | None = None,
                 more: int = 0):
        super().__init__(text)
        self.problems = problems or []  # (English template, its params), from _problem
        self.more = more

    def message(self, lang: str = i18n.DEFAULT) -> str:
        if lang == i18n.DEFAULT or not self.problems:
            return str(self)
        t = i18n.translation(lang)
        parts = [t.pgettext("schema", template).format(
            **{k: t.pgettext("schema", v) if k in ("kind", "expected") else v
               for k, v in params.items()})
            for template, params in self.problems]
        more = t.pgettext("schema", " (and {n} more)").format(n=self.more) if self.more else ""
        return t.pgettext("schema", "; ").join(parts) + more


# pydantic's error types as sentences a catalog can hold (the English answer keeps
# pydantic's own wording; these are what other languages translate)
_BOUNDS = {"less_than_equal": ("le", "{field}: should be at most {limit}"),
           "less_than": ("lt", "{field}: should be less than {limit}"),
           "greater_than_equal": ("ge", "{field}: should be at least {limit}"),
           "greater_than": ("gt", "{field}: should be greater than {limit}"),
           "string_too_long": ("max_length", "{field}: at most {limit} characters"),
           "string_too_short": ("min_length", "{field}: at least {limit} characters"),
           "too_long": ("max_length", "{field}: at most {limit} items"),
           "too_short": ("min_length", "{field}: at least {limit} items")}
_KINDS = {"int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
          "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
          "float_type": "a number", "float_parsing": "a number", "dict_type": "a mapping",
          "list_type": "a list", "model_type": "a mapping"}


def _problem(model: type[BaseModel], err: dict) -> tuple[str, dict]:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(_TYPE_TAGS)))
    field = _where(loc) or model.__name__
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        if len(loc) == 1:
            allowed = ", ".join(f.alias or n for n, f in model.model_fields.items())
            return "unknown field {field}; allowed: {allowed}", {"field": repr(field),
                                                                  "allowed": allowed}
        return "unknown field {field}", {"field": repr(field)}
    if kind == "missing":
        return "{field}: missing (required)", {"field": field}
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, template = _BOUNDS[kind]
        return template, {"field": field, "limit": ctx[key]}
    if kind in _KINDS:
        return "{field}: should be {kind}", {"field": field, "kind": _KINDS[kind]}
    if kind == "string_pattern_mismatch":
        return "{field}: not in the expected form", {"field": field}
    if kind == "literal_error" and "expected" in ctx:
        return "{field}: should be one of {expected}", {"field": field,
                                                        "expected": ctx["expected"]}
    detail = err["msg"].removeprefix("Value error, ")
    return "{field}: {detail}", {"field": field, "detail": detail}


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
    return _described(model, e)[0]


def _described(model: type[BaseModel], e: ValidationError):
    """(English text, the same as catalog templates, how many more) of `e`."""
    by_field: dict[object, list[dict]] = {}
    for err in e.errors(include_url=False):
        by_field.setdefault(err["loc"][0] if err["loc"] else None, []).append(err)
    parts, problems = [], []
    for name, errs in by_field.items():
        info = model.model_fields.get(name) if isinstance(name, str) else None
        kinds = {err["type"] for err in errs}
        if len(errs) > 1 and info is not None and info.description and "missing" not in kinds:
            expected = f"{info.description[0].lower()}{info.description[1:]}"
            parts.append(f"{name}: expected {expected}")
            problems.append(("{field}: expected {expected}",
                             {"field": name, "expected": info.description}))
        else:
            parts.append(_sentence(model, errs[0]))
            problems.append(_problem(model, errs[0]))
    extra = max(0, len(parts) - 3)
    more = f" (and {extra} more)" if extra else ""
    return "; ".join(parts[:3]) + more, problems[:3], extra


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """`model` of `data`, or SchemaError with a readable message naming the field."""
    if not isinstance(data, dict):
        raise SchemaError(f"{model.__name__}: expected a mapping of fields",
                          [("{field}: should be {kind}",
                            {"field": model.__name__, "kind": "a mapping"})])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        text, problems, more = _described(model, e)
        raise SchemaError(text, problems, more) from None
