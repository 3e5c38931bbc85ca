"""Default authentication: accounts exist only when an admin creates them (REST API,
`npuhub` CLI, course rosters); each user sets a password at first login."""

from __future__ import annotations

import dbm
from pathlib import Path

import bcrypt
from firstuseauthenticator import FirstUseAuthenticator
from traitlets import default


class NPUHubAuthenticator(FirstUseAuthenticator):
    """FirstUseAuthenticator with npuhub's defaults: no self-sign-up, passwords of at
    least 8 characters, the password database in the state dir."""

    @default("create_users")
    def _create_users_default(self):
        return False

    @default("min_password_length")
    def _min_len_default(self):
        return 8


def set_password(dbm_path: str | Path, username: str, password: str) -> None:
    """Store a password hash the way FirstUseAuthenticator reads it."""
    with dbm.open(str(dbm_path), "c", 0o600) as db:
        db[username.encode("utf8")] = bcrypt.hashpw(password.encode("utf8"), bcrypt.gensalt())
