"""Default authentication: accounts exist only when an admin creates them (REST API,
`npuhub` CLI, course rosters); each user sets a password at first login."""

from __future__ import annotations

import dbm
from pathlib import Path

import bcrypt
from firstuseauthenticator import FirstUseAuthenticator
from firstuseauthenticator.firstuseauthenticator import CustomLoginHandler, ResetPasswordHandler
from traitlets import default

from npuhub.hub import i18n, pages
from npuhub.hub.reports import page as usage_page


class LoginHandler(pages.LanguageMixin, CustomLoginHandler):
    """The login page in the language of the browser's `Accept-Language`, its errors
    (wrong password, password too short at first use) included."""

    def render_template(self, name, *args, **ns):
        if ns.get("login_error"):
            ns["login_error"] = i18n.login_error(self.npuhub_lang(), ns["login_error"])
        return super().render_template(name, *args, **ns)


class NPUHubAuthenticator(FirstUseAuthenticator):
    """FirstUseAuthenticator with npuhub's defaults: no self-sign-up, passwords of at
    least 8 characters, the password database in the state dir."""

    @default("create_users")
    def _create_users_default(self):
        return False

    @default("min_password_length")
    def _min_len_default(self):
        return 8

    def get_handlers(self, app):
        # npuhub's pages first: JupyterHub routes the authenticator's handlers before its own
        return [
            (r"/login", LoginHandler),
            (r"/auth/change-password", ResetPasswordHandler),
            *pages.handlers(),
            *usage_page.handlers(),
        ]


def set_password(dbm_path: str | Path, username: str, password: str) -> None:
    """Store a password hash the way FirstUseAuthenticator reads it."""
    with dbm.open(str(dbm_path), "c", 0o600) as db:
        db[username.encode("utf8")] = bcrypt.hashpw(password.encode("utf8"), bcrypt.gensalt())
