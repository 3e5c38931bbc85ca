"""The language of the kernel side (panels, magics, the Python API's messages).

The person's language is JupyterLab's language setting when they have one (Settings >
Language; written at the first start from env `NPUHUB_LANG` by extensions/serverext.py),
else `NPUHUB_LANG` (the language of the browser that started the server), else English.
It is read again when the settings file changes, so a switch in the Lab applies to the
next message without a kernel restart.

Messages are GNU gettext, domain `npuhub_extensions`:
`extensions/locale/zh_CN/LC_MESSAGES/npuhub_extensions.po`, compiled to `.mo` with
`msgfmt -o extensions/locale/zh_CN/LC_MESSAGES/npuhub_extensions.mo ….po` (both
committed; a unit test fails on a missing or stale translation). The platform service's
refusals are rendered by the service in the language asked for: the client sends
`Accept-Language` (:func:`accept_language`).
"""

from __future__ import annotations

import gettext
import json
import os
import re
from functools import cache
from pathlib import Path

DOMAIN = "npuhub_extensions"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
SUPPORTED = ("en", "zh_CN")
ENV_LANG = "NPUHUB_LANG"
LAB_LANGUAGE_SETTINGS = ("@jupyterlab", "translation-extension", "plugin.jupyterlab-settings")
MAX_SETTINGS_SIZE = 64 << 10


def lab_settings_dir() -> str:
    """JupyterLab's user settings folder (as jupyterlab.commands.get_user_settings_dir)."""
    from jupyter_core.paths import jupyter_config_dir

    return os.environ.get("JUPYTERLAB_SETTINGS_DIR") or os.path.join(
        jupyter_config_dir(), "lab", "user-settings"
    )


def supported(tag: str | None) -> str | None:
    """"zh_CN", "zh-CN", "zh-Hans", "zh" -> "zh_CN"; "en…" -> "en"; anything else None."""
    tag = (tag or "").strip().replace("-", "_").lower()
    if tag == "zh" or tag.startswith(("zh_cn", "zh_hans", "zh_sg")):
        return "zh_CN"
    if tag == "en" or tag.startswith("en_"):
        return "en"
    return None


def _settings_text(text: str) -> dict:
    """A Lab settings file: JSON, possibly with // and /* */ comments (JSON5 as Lab writes
    it after an edit in its settings editor) and trailing commas."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^\s*//[^\n]*", "", text, flags=re.M)  # comments on their own lines
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    try:
        return json.loads(text)
    except ValueError:
        return {}


@cache
def _lab_locale(path: str, mtime_ns: int, size: int) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            settings = _settings_text(f.read(MAX_SETTINGS_SIZE))
    except (OSError, UnicodeDecodeError):
        return None
    locale = settings.get("locale") if isinstance(settings, dict) else None
    return supported(locale) if isinstance(locale, str) else None


def lab_language(settings_dir: str | None = None) -> str | None:
    """The language set in JupyterLab (a supported one), or None."""
    try:
        path = os.path.join(settings_dir or lab_settings_dir(), *LAB_LANGUAGE_SETTINGS)
        st = os.stat(path)
    except (OSError, ImportError):
        return None
    return _lab_locale(path, st.st_mtime_ns, st.st_size)


def language() -> str:
    """The person's language: the Lab's setting, else NPUHUB_LANG, else English."""
    return lab_language() or supported(os.environ.get(ENV_LANG)) or DEFAULT


@cache
def translation(lang: str) -> gettext.NullTranslations:
    if lang not in SUPPORTED or lang == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def _(message: str) -> str:
    """`message` in the person's language."""
    return translation(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for the catalog; translated where it is shown (with `_`)."""
    return message


def accept_language(lang: str | None = None) -> str:
    """The `Accept-Language` asking the service for this language ("zh-CN", "en")."""
    return (lang or language()).replace("_", "-")
