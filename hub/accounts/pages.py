"""The hub's account pages, in the browser's language: the login form (with the
slowing-down of repeated failures), the one-time activation page (choose a password)
and the change-password page (the current password is required).

Registered by the default authenticator (npuhub.hub.auth); all database work and bcrypt
run in an executor, never on JupyterHub's event loop. Activation tokens travel in the
`token` query parameter, which JupyterHub's access log scrubs.
"""

from __future__ import annotations

import asyncio
import math
import time
from functools import partial

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler as _LoginHandler
from tornado import web

from npuhub.hub import i18n
from npuhub.hub.pages import LanguageMixin

from .store import AccountError

N_ = str  # marks a msgid for extraction
MESSAGES = {
    "too_short": N_("Password too short: choose a password of at least {n} characters."),
    "too_long": N_("Password too long: at most {n} bytes."),
    "mismatch": N_("The two new passwords differ."),
    "wrong_password": N_("The current password is wrong."),
    "unknown_link": N_("This activation link is not valid: it was used already or replaced "
                       "by a newer one. Ask your administrator or instructor for a new link."),
    "expired_link": N_("This activation link has expired. Ask your administrator or "
                       "instructor for a new one."),
    "throttled": N_("Too many failed attempts: try again in {n} seconds."),
    "activated": N_("Your account {name} is active. Sign in with your new password."),
    "changed": N_("Your password has been changed."),
}


def message(lang: str, code: str, **numbers) -> str:
    return i18n.translation(lang).gettext(MESSAGES[code]).format(**numbers)


class AccountPage(LanguageMixin, BaseHandler):
    @property
    def store(self):
        return self.authenticator.store

    async def blocking(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args,
                                                                              **kwargs))

    def refusal(self, e: AccountError) -> str:
        return message(self.npuhub_lang(), e.code, **e.numbers)

    def throttled(self, user: str | None) -> float:
        return self.authenticator.backoff.wait(user, self.request.remote_ip, time.monotonic())


class LoginHandler(LanguageMixin, _LoginHandler):
    """JupyterHub's login form; a name or address with too many recent failures waits
    (HTTP 429 with Retry-After) before its password is even checked."""

    def render_template(self, name, *args, **ns):
        if ns.get("login_error"):
            ns["login_error"] = i18n.login_error(self.npuhub_lang(), ns["login_error"])
        return super().render_template(name, *args, **ns)

    async def post(self):
        user = self.get_argument("username", "", strip=True)
        wait = self.authenticator.backoff.wait(
            self.authenticator.normalize_username(user), self.request.remote_ip,
            time.monotonic())
        if wait > 0:
            seconds = math.ceil(wait)
            self.set_status(429)
            self.set_header("Retry-After", str(seconds))
            error = message(self.npuhub_lang(), "throttled", n=seconds)
            self.finish(await self._render(login_error=error, username=user[:64]))
            return
        await super().post()


class ActivateHandler(AccountPage):
    """GET shows the form for a valid link; POST uses it once: the password is set, the
    account active, the link spent."""

    async def page(self, status: int = 200, **ns):
        self.set_status(status)
        self.finish(await self.render_template("npuhub-activate.html", **ns))

    async def get(self):
        token = self.get_argument("token", "")
        try:
            name = await self.blocking(self.store.link_owner, token)
        except AccountError as e:
            return await self.page(e.status, error=self.refusal(e), token="", account="")
        await self.page(account=name, token=token, error="",
                        min_length=self.authenticator.min_password_length)

    async def post(self):
        token = self.get_argument("token", "")
        password = self.get_argument("password", "")
        confirm = self.get_argument("password_confirm", "")
        wait = self.throttled(None)
        if wait > 0:
            error = message(self.npuhub_lang(), "throttled", n=math.ceil(wait))
            return await self.page(429, error=error, token=token, account="")
        try:
            name = await self.blocking(self.store.activate, token, password, confirm,
                                       self.authenticator.min_password_length)
        except AccountError as e:
            if e.code in ("unknown_link", "expired_link"):
                self.authenticator.backoff.failed(None, self.request.remote_ip,
                                                  time.monotonic())
                return await self.page(e.status, error=self.refusal(e), token="", account="")
            try:
                name = await self.blocking(self.store.link_owner, token)
            except AccountError as gone:
                return await self.page(gone.status, error=self.refusal(gone), token="",
                                       account="")
            return await self.page(400, error=self.refusal(e), token=token, account=name,
                                   min_length=self.authenticator.min_password_length)
        self.authenticator.backoff.succeeded(name, time.monotonic())
        self.log.info("Account %s activated", name)
        await self.page(done=message(self.npuhub_lang(), "activated", name=name),
                        token="", account=name, error="")


class ChangePasswordHandler(AccountPage):
    """For the signed-in user: current password, new password twice."""

    async def page(self, status: int = 200, **ns):
        self.set_status(status)
        ns.setdefault("min_length", self.authenticator.min_password_length)
        self.finish(await self.render_template("npuhub-password.html", **ns))

    @web.authenticated
    async def get(self):
        await self.page(error="", done="")

    @web.authenticated
    async def post(self):
        name = self.current_user.name
        wait = self.throttled(name)
        if wait > 0:
            error = message(self.npuhub_lang(), "throttled", n=math.ceil(wait))
            return await self.page(429, error=error, done="")
        try:
            await self.blocking(self.store.change_password, name,
                                self.get_argument("old_password", ""),
                                self.get_argument("password", ""),
                                self.get_argument("password_confirm", ""),
                                self.authenticator.min_password_length)
        except AccountError as e:
            if e.code == "wrong_password":
                self.authenticator.backoff.failed(name, self.request.remote_ip,
                                                  time.monotonic())
            return await self.page(e.status, error=self.refusal(e), done="")
        self.authenticator.backoff.succeeded(name, time.monotonic())
        self.log.info("Password of %s changed", name)
        await self.page(error="", done=message(self.npuhub_lang(), "changed"))
