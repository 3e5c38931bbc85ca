"""Translations of the hub's pages: the spawn form, the spawn pages' own text, progress
messages and refusals, in English and Simplified Chinese.

Refusals are rendered from their code and numbers by hub/refusals.py (their Chinese
templates are in the same catalog, with the code as msgctxt).

The catalog is GNU gettext (`locale/<lang>/LC_MESSAGES/npuhub.po`, compiled to `.mo`
with `pybabel compile -d hub/locale -D npuhub`; both are committed). The language
is the best match of the browser's `Accept-Language` among SUPPORTED. JupyterHub gives
the spawner the handler of the request that renders the form or starts the server
(`spawner.handler`); the language found there is remembered on the spawner for the
moments when JupyterHub has already cleared it (a refused form shown again).
"""

from __future__ import annotations

import gettext
import re
from functools import cache
from pathlib import Path

DOMAIN = "npuhub"
LOCALE_DIR = Path(__file__).parent / "locale"
TEMPLATES_DIR = Path(__file__).parent / "templates" / "hub"  # overrides of hub pages
SUPPORTED = ("en", "zh_CN")
DEFAULT = "en"

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def negotiate(accept_language: str | None) -> str:
    """The supported language that best matches an `Accept-Language` header."""
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not _TAG.match(tag):
            continue
        q = 1.0
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                continue
        if q > 0:
            ranked.append((-q, i, tag.replace("_", "-").lower()))
    for _, _, tag in sorted(ranked):
        if tag == "zh" or tag.startswith(("zh-cn", "zh-hans", "zh-sg")):
            return "zh_CN"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return DEFAULT


@cache
def translation(lang: str) -> gettext.NullTranslations:
    if lang == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def language_of(spawner) -> str:
    """The language of the person using this spawner's pages right now."""
    handler = getattr(spawner, "handler", None)
    request = getattr(handler, "request", None)
    if request is not None:
        lang = negotiate(request.headers.get("Accept-Language"))
        try:
            spawner._npuhub_lang = lang
        except AttributeError:
            pass
        return lang
    return getattr(spawner, "_npuhub_lang", DEFAULT)


def for_spawner(spawner) -> gettext.NullTranslations:
    return translation(language_of(spawner))


HTTP_WRAPPER = re.compile(r"^HTTP \d{3}: [^(]*\((?P<text>.*)\)$", re.S)


class TemplateI18n:
    """Given to JupyterHub's templates (c.JupyterHub.template_vars["npuhub_i18n"]):
    `{% set _ = npuhub_i18n.gettext(spawner) %}` then `{{ _("Start") }}`."""

    def gettext(self, spawner):
        return for_spawner(spawner).gettext

    def lang(self, spawner) -> str:
        return language_of(spawner).replace("_", "-")

    def code(self, spawner) -> str:
        """The spawner's language as `npuhub_lang` (for page.html's navigation bar)."""
        return language_of(spawner)

    def sentence(self, message) -> str:
        """A refusal as the sentence it carries, without tornado's "HTTP 503: Service
        Unavailable (…)" wrapper around it."""
        m = HTTP_WRAPPER.match(str(message))
        return m.group("text") if m else str(message)

    def gettext_for(self, lang: str | None):
        """For pages without a spawner (the login page): `lang` as negotiated by the
        page's handler, English when the handler gave none."""
        return translation(lang if lang in SUPPORTED else DEFAULT).gettext


N_ = str  # marks a msgid for extraction without translating it here


def ngettext(spawner, singular: str, plural: str, n: int) -> str:
    return for_spawner(spawner).ngettext(singular, plural, n)


# Errors of the login form: sentences of JupyterHub's LoginHandler and FirstUseAuthenticator,
# which npuhub does not own (its own refusals carry codes: hub/refusals.py)
LOGIN_ERRORS = [
    (re.compile(r"^Invalid username or password$"), N_("Invalid username or password")),
    (
        re.compile(r"^Password too short! Please choose a password at least (?P<n>\d+) "
                   r"characters long\.$"),
        N_("Password too short: choose a password of at least {n} characters."),
    ),
]


def login_error(lang: str, message: str) -> str:
    """An error of the login form in `lang`; an unknown one keeps its text."""
    if lang == DEFAULT:
        return message
    for pattern, msgid in LOGIN_ERRORS:
        m = pattern.match(message)
        if m:
            return translation(lang).gettext(msgid).format(**m.groupdict())
    return message
