"""Passwords and activation tokens, pure: bcrypt hashes of passwords, SHA-256 of tokens
(a token is 32 random bytes, so a fast hash is enough), and the rules a new password
must meet, as refusal codes that the pages render in the reader's language."""

from __future__ import annotations

import hashlib
import secrets

import bcrypt

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256  # bcrypt reads 72 bytes; longer input is refused, not cut silently
TOKEN_BYTES = 32
# a valid bcrypt hash of a random password: checking against it when an account has no
# password takes as long as a real check, so timing tells nobody which accounts exist
_DUMMY_HASH = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt()).decode()


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    """Whether `password` matches `hashed` (False, in the same time, without a hash)."""
    try:
        ok = bcrypt.checkpw(password.encode("utf-8")[:72], (hashed or _DUMMY_HASH).encode())
    except ValueError:  # not a bcrypt hash
        return False
    return ok and hashed is not None


def password_problem(password: str, confirm: str | None = None,
                     min_length: int = MIN_PASSWORD_LENGTH) -> tuple[str, dict] | None:
    """Why `password` cannot be a new password, as (code, numbers); None if it can."""
    if len(password) < min_length:
        return "too_short", {"n": min_length}
    if len(password.encode("utf-8")) > 72 or len(password) > MAX_PASSWORD_LENGTH:
        return "too_long", {"n": 72}
    if confirm is not None and confirm != password:
        return "mismatch", {}
    return None


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
