"""The declared shapes of what people send and what the platform answers: REST request
bodies, the documents of `npuhub apply -f`, and the REST answers. One pydantic model per
shape; the OpenAPI document is generated from the same models (npuhub.hub.service.openapi).

Unknown fields are refused with a message that names them (``extra="forbid"``), so a
typo such as ``tpye:`` is an error, not a silent default.
"""

from .base import API_VERSION, Body, Reply, SchemaError, validate

__all__ = ["API_VERSION", "Body", "Reply", "SchemaError", "validate"]
