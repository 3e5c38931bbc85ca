"""The hub's translation catalog: language negotiation and a complete zh_CN catalog."""

from __future__ import annotations

import types

import pytest

from npuhub.hub import i18n


@pytest.mark.parametrize(
    "header, lang",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh-Hans", "zh_CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, zh;q=0.5", "zh_CN"),
        ("zh-CN;q=0, en", "en"),
        ("", "en"),
        (None, "en"),
        ("<script>", "en"),
    ],
)
def test_negotiate(header, lang):
    assert i18n.negotiate(header) == lang


def spawner(header):
    request = types.SimpleNamespace(headers={"Accept-Language": header})
    return types.SimpleNamespace(handler=types.SimpleNamespace(request=request))


def test_language_is_remembered_when_the_handler_is_gone():
    s = spawner("zh-CN")
    assert i18n.language_of(s) == "zh_CN"
    s.handler = None
    assert i18n.language_of(s) == "zh_CN"


def test_zh_catalog_translates_every_message():
    from babel.messages.pofile import read_po

    po = i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "npuhub.po"
    catalog = read_po(po.open("rb"))
    missing = [m.id for m in catalog if m.id and not (m.string and all(m.string))]
    assert not missing
    t = i18n.translation("zh_CN")
    assert t.gettext("Start") == "启动"  # the committed .mo matches the .po
    for m in catalog:
        if m.id and not m.pluralizable:
            got = t.pgettext(m.context, m.id) if m.context else t.gettext(m.id)
            assert got == m.string, f".mo is stale for {m.id!r}: pybabel compile"


def test_login_errors_in_chinese_and_untouched_in_english():
    assert i18n.login_error("en", "Invalid username or password") == (
        "Invalid username or password")
    assert i18n.login_error("zh_CN", "Invalid username or password") == "用户名或密码错误"
    short = "Password too short! Please choose a password at least 8 characters long."
    assert i18n.login_error("zh_CN", short) == "密码太短：请设置至少 8 个字符的密码。"
    assert i18n.login_error("zh_CN", "Something else") == "Something else"


def test_template_gettext_for_unknown_language_is_english():
    t = i18n.TemplateI18n()
    assert t.gettext_for("zh_CN")("Sign in") == "登录"
    assert t.gettext_for(None)("Sign in") == "Sign in"
    assert t.gettext_for("../../etc")("Sign in") == "Sign in"
