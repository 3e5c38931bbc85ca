"""Default authentication: accounts exist only when an admin creates them (REST API,
`npuhub` CLI, course rosters), and none can be claimed. A new account has no password:
its owner opens a one-time activation link (hub/accounts/) and chooses one. Passwords
are bcrypt hashes in the platform database; changing one needs the current one;
repeated failed logins slow down, per account and per address.

Single sign-on replaces this class by configuration (`c.JupyterHub.authenticator_class =
"generic-oauth"` or `"ldapauthenticator.LDAPAuthenticator"`): then the identity
provider's accounts are used and none of this applies."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from jupyterhub.auth import Authenticator
from traitlets import Float, Integer, Unicode, default

from npuhub.hub import pages
from npuhub.hub.accounts.backoff import Backoff
from npuhub.hub.accounts.pages import ActivateHandler, ChangePasswordHandler, LoginHandler
from npuhub.hub.accounts.passwords import MIN_PASSWORD_LENGTH
from npuhub.hub.platform import platform_for
from npuhub.hub.reports import operator_page
from npuhub.hub.reports import page as usage_page


class NPUHubAuthenticator(Authenticator):
    """Passwords chosen through one-time activation links; no self-sign-up."""

    npuhub_activation = True  # the login page tells new users about activation links

    db_url = Unicode(
        help="The platform database (set by npuhub's JupyterHub config from c.NPUHub.db_url)."
    ).tag(config=True)

    min_password_length = Integer(
        MIN_PASSWORD_LENGTH, min=MIN_PASSWORD_LENGTH,
        help="Shortest password a user may choose (at least 8).",
    ).tag(config=True)

    login_free_failures = Integer(
        3, min=1,
        help="""Failed logins of one account before each further attempt waits (1 s,
        then twice as long each time, up to login_max_wait_seconds).""",
    ).tag(config=True)

    login_free_failures_per_address = Integer(
        20, min=1,
        help="""Failed logins from one address (of any accounts) before it waits: higher
        than per account, as a classroom may share one address.""",
    ).tag(config=True)

    login_max_wait_seconds = Float(60.0, min=1.0, help="Longest wait between attempts.").tag(
        config=True
    )

    @default("allow_all")
    def _allow_all_default(self):
        # whoever has an account may log in: accounts exist only when an admin made them
        return True

    @property
    def store(self):
        return platform_for(self.db_url).accounts

    @property
    def backoff(self) -> Backoff:
        if not hasattr(self, "_backoff"):
            self._backoff = Backoff(free=self.login_free_failures,
                                    free_per_address=self.login_free_failures_per_address,
                                    cap=self.login_max_wait_seconds)
        return self._backoff

    async def authenticate(self, handler, data):
        name = self.normalize_username((data or {}).get("username") or "")
        password = (data or {}).get("password") or ""
        address = handler.request.remote_ip if handler is not None else ""
        now = time.monotonic()
        if self.backoff.wait(name, address, now) > 0:
            return None
        exists = bool(name) and handler is not None and handler.find_user(name) is not None
        ok = await asyncio.get_running_loop().run_in_executor(
            None, partial(self.store.verify, name if exists else "", password[:1024]))
        if ok and exists:
            self.backoff.succeeded(name, now)
            return name
        self.backoff.failed(name, address, now)
        return None

    async def delete_user(self, user):
        await asyncio.get_running_loop().run_in_executor(None, self.store.delete, user.name)

    def get_handlers(self, app):
        # npuhub's pages first: JupyterHub routes the authenticator's handlers before its own
        return [
            (r"/login", LoginHandler),
            (r"/activate", ActivateHandler),
            (r"/auth/change-password", ChangePasswordHandler),
            *pages.handlers(),
            *usage_page.handlers(),
            *operator_page.handlers(),
        ]
