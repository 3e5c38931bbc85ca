"""Assignment files in JSON: text as it is, anything else (a picture, a .npz) as base64.

A file set travels as {relative name: string}. A file that is UTF-8 text without NUL
characters is its own string; any other file is `BINARY_PREFIX` + base64 of its bytes. No
text file starts with a NUL, so the two never mix. The service (npuhub.hub.courses) and
the client in the user's server share this module.
"""

from __future__ import annotations

import base64
import binascii

BINARY_PREFIX = "\0base64:"


def encode(data: bytes) -> str:
    """The JSON string of a file's bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\0" not in text:
        return text
    return BINARY_PREFIX + base64.b64encode(data).decode("ascii")


def is_binary(value: str) -> bool:
    return value.startswith(BINARY_PREFIX)


def decode(value: str) -> bytes:
    """A file's bytes from its JSON string; ValueError if the base64 is broken."""
    if not is_binary(value):
        return value.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(value[len(BINARY_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("broken base64 content") from None
