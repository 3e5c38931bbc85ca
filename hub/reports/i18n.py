"""Translations of the operators' reports (usage page, plots, monthly report): GNU
gettext domain ``npuhub_reports`` in hub/locale (``pybabel compile -d hub/locale -D
npuhub_reports``; .po and .mo are committed). Languages as on the hub's pages."""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

DOMAIN = "npuhub_reports"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SUPPORTED = ("en", "zh_CN")


@cache
def translation(lang: str) -> gettext.NullTranslations:
    if lang not in SUPPORTED or lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def gettext_for(lang: str):
    return translation(lang).gettext
