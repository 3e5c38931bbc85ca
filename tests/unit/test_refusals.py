"""Refusals are a code and numbers: every code reads in English and Chinese with its
numbers, quota and capacity refusals say exactly what a person reads, and the service's
base handler answers any refusal as JSON in the request's language."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime

import pytest
from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application

from npuhub.hub.i18n import translation
from npuhub.hub.ledger import quota
from npuhub.hub.ledger.capacity import CapacityError
from npuhub.hub.ledger.quota import Holdings, Limits, QuotaError
from npuhub.hub.refusals import MESSAGES, PHRASES, Refusal, render
from npuhub.hub.service.base import APIHandler

DERIVED = {"who", "whose", "what", "queue", "this", "reset"}


def sample_params(code: str) -> dict:
    """Params for every field `code`'s template names, numbers distinct and > 1."""
    template = MESSAGES[code][1]
    texts = template[:2] if isinstance(template, tuple) else (template,)
    names = {f for t in texts for _, f, _, _ in string.Formatter().parse(t) if f}
    params: dict = {}
    for i, name in enumerate(sorted(names)):
        base = name.removesuffix("_npus").removesuffix("_hms")
        if name in DERIVED:
            continue
        if base != name or name in {"held", "cap", "npus", "more", "left", "free", "total",
                                    "largest", "per_server", "active", "id", "line", "max",
                                    "low", "high"}:
            params[base] = 7000 + 11 * i
        elif name in {"used", "budget"}:
            params[name] = 12.5 + i
        elif name in {"accounts", "allowed", "fields"}:
            params[name] = [f"g{i}a", f"g{i}b"]
        else:
            params[name] = f"x{i}y"
    if names & {"who", "whose"}:
        params["account"] = "lab-7"
    if "queue" in names:
        params["waiting"] = 3
    if "what" in names:
        params["device_type"] = "Ascend910B"
    if names & {"this", "reset"}:
        params.update(period="week", resets="2026-12-07T00:00:00+00:00")
    return params


def shown(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, float):
        return [format(value, "g")]
    return [str(value)]


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_reads_in_english_and_chinese_with_its_numbers(code):
    params = sample_params(code)
    en, zh = render(code, params, "en"), render(code, params, "zh_CN")
    zh_template = translation("zh_CN")
    template = MESSAGES[code][1]
    if isinstance(template, tuple):
        got = zh_template.npgettext(code, template[0], template[1], 2)
        assert got != template[1], f"no zh_CN template for {code}: add it to hub/locale"
    else:
        assert zh_template.pgettext(code, template) != template, (
            f"no zh_CN template for {code}: add it to hub/locale")
    for text in (en, zh):
        assert "{" not in text.replace("{\"lr\"", ""), text
        for key, value in params.items():
            if key in ("personal", "period", "resets", "device_type") and code != "refused":
                continue
            if f"{{{key}_hms}}" in str(template):
                value = f"{value // 3600}:{value % 3600 // 60:02d}:{value % 60:02d}"
            for piece in shown(value):
                assert piece in text, f"{code}: {key}={piece!r} missing from {text!r}"
    assert en != zh
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), zh


def test_every_phrase_has_a_chinese_template():
    t = translation("zh_CN")
    for name, template in PHRASES.items():
        if isinstance(template, tuple):
            assert t.npgettext("phrase", template[0], template[1], 2) != template[1], name
        else:
            assert t.pgettext("phrase", template) != template, name


def test_status_follows_the_kind_of_refusal():
    assert QuotaError("quota_user_full", held=1, cap=1).status == 403
    assert CapacityError("capacity_all_busy", total=8).status == 503
    assert Refusal("bad_time_limit", field="time_limit", value="'x'").status == 400
    assert Refusal("no_job", id=3).status == 404
    assert Refusal("job_ended", id=3, state="done").status == 409
    assert Refusal("no_job", 410, id=3).status == 410


def test_a_sentence_becomes_the_fallback_code_with_its_detail():
    from npuhub.hub.courses.course_file import CourseError

    e = CourseError("title must be text")
    assert (e.code, e.params, e.status, str(e)) == (
        "course_invalid", {"detail": "title must be text"}, 400, "title must be text")
    assert e.message("zh_CN") == "课程被拒绝：title must be text"


# ---------------------------------------------------------------- quota, as people read it

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday


def refused(request_npus, limits, holdings, profile=None) -> QuotaError:
    with pytest.raises(QuotaError) as e:
        quota.check(request_npus, limits, holdings, profile)
    return e.value


QUOTA_CASES = [
    (
        "account_not_yours",
        lambda: quota.choose_account("ana", ["lab", "cs101"], "physics"),
        "physics is not one of your accounts: cs101, lab",
        "physics 不是您的账户；您的账户：cs101, lab",
    ),
    (
        "account_ambiguous",
        lambda: quota.choose_account("ana", ["lab", "cs101"], None),
        "You are in several groups; choose the account to charge: cs101, lab",
        "您属于多个组，请选择计费账户：cs101, lab",
    ),
    (
        "npus_not_whole",
        lambda: quota.check(-2, Limits(), Holdings(account="lab")),
        "The number of NPUs must be a whole number, 0 or more, not -2",
        "NPU 数量必须是 0 或更大的整数，而不是 -2",
    ),
    (
        "profile_not_allowed",
        lambda: quota.check(0, Limits(profiles=("course-a",)), Holdings(account="cs101"), "base"),
        "Profile base is not available to cs101; allowed: course-a",
        "组 cs101 不能使用配置 base；可用的配置：course-a",
    ),
    (
        "quota_per_server",
        lambda: quota.check(3, Limits(max_npus_per_server=2), Holdings(account="lab")),
        "You asked for 3 NPUs; at most 2 per server are allowed for lab",
        "您申请了 3 个 NPU；组 lab 每个服务器最多允许 2 个",
    ),
    (
        "quota_user_full",
        lambda: quota.check(1, Limits(max_npus=4), Holdings(account="lab", user_npus=4)),
        "You already hold 4 of your 4 NPUs",
        "您已占用配额内全部 4 个 NPU 中的 4 个",
    ),
    (
        "quota_user_more",
        lambda: quota.check(3, Limits(max_npus=4), Holdings(account="lab", user_npus=2)),
        "You hold 2 of your 4 NPUs and asked for 3: at most 2 more",
        "您已占用 4 个 NPU 配额中的 2 个，又申请了 3 个：最多还能再申请 2 个",
    ),
    (
        "quota_account_full",
        lambda: quota.check(1, Limits(group_max_npus=8), Holdings(account="lab", account_npus=8)),
        "Group lab holds 8 of its 8 NPUs",
        "组 lab 已占用其 8 个 NPU 中的 8 个",
    ),
    (
        "quota_account_more",
        lambda: quota.check(4, Limits(group_max_npus=8), Holdings(account="lab", account_npus=7)),
        "Group lab holds 7 of its 8 NPUs; you asked for 4, 1 is left",
        "组 lab 已占用其 8 个 NPU 中的 7 个；您申请了 4 个，只剩 1 个",
    ),
    (
        "budget_account",
        lambda: quota.check(
            1, Limits(npu_hours=40, period="week"),
            Holdings(account="lab", account_hours=41.25, now=NOW),
        ),
        "Group lab has used 41.2 of 40 NPU-hours this week; the budget resets Monday 00:00 UTC",
        "组 lab 本周已用 41.2 / 40 NPU 小时；预算将于周一 00:00 UTC 重置",
    ),
    (
        "budget_member",
        lambda: quota.check(
            1, Limits(npu_hours_per_member=5, period="month"),
            Holdings(account="cs101", member_hours=5.5, now=NOW),
        ),
        "You have used 5.5 of your 5 NPU-hours in cs101 this month; "
        "the budget resets on 1 January 00:00 UTC",
        "您本月在 cs101 已用 5.5 / 5 NPU 小时（您的份额）；预算将于 1 月 1 日 00:00 UTC 重置",
    ),
    (
        "budget_user",
        lambda: quota.check(
            1, Limits(user_npu_hours=10, period="day"),
            Holdings(account="ana", user_hours=10, personal=True, now=NOW),
        ),
        "You have used 10 of your 10 NPU-hours today; the budget resets at 00:00 UTC",
        "您今天已用 10 / 10 NPU 小时（您的个人预算）；预算将于 00:00 UTC 重置",
    ),
]


@pytest.mark.parametrize(("code", "refuse", "en", "zh"), QUOTA_CASES, ids=[c[0] for c in QUOTA_CASES])
def test_quota_refusals_read_correctly_in_english_and_chinese(code, refuse, en, zh):
    with pytest.raises(QuotaError) as e:
        refuse()
    assert e.value.code == code
    assert (str(e.value), e.value.message("en"), e.value.message("zh_CN")) == (en, en, zh)
    assert e.value.status == (400 if code == "npus_not_whole" else 403)


def test_every_quota_code_is_covered():
    assert {c[0] for c in QUOTA_CASES} == {
        code for code in MESSAGES
        if code.startswith(("quota_", "budget_", "account_")) or code in (
            "npus_not_whole", "profile_not_allowed")
    }


def test_a_personal_account_is_yours_in_both_languages():
    e = refused(2, Limits(group_max_npus=1), Holdings(account="ana", personal=True))
    assert str(e) == "Your account holds 0 of its 1 NPU; you asked for 2, 1 is left"
    assert e.message("zh_CN") == "您的账户已占用其 1 个 NPU 中的 0 个；您申请了 2 个，只剩 1 个"


# ---------------------------------------------------------------- capacity

CAPACITY_CASES = [
    (
        CapacityError("capacity_none", transient=False, device_type="Ascend910B"),
        "There are no Ascend910B NPUs in service on this platform",
        "本平台没有在役的 Ascend910B NPU",
    ),
    (
        CapacityError("capacity_too_many", transient=False, npus=16, total=8),
        "You asked for 16 NPUs, but the platform has only 8 in service",
        "您申请了 16 个 NPU，但本平台只有 8 个在役",
    ),
    (
        CapacityError("capacity_all_busy", total=8, waiting=1),
        "All 8 NPUs are in use (1 user waiting)",
        "全部 8 个 NPU 都在使用中（1 人在等待）",
    ),
    (
        CapacityError("capacity_few_free", free=1, total=8, npus=2, waiting=3,
                      device_type="simulated"),
        "Only 1 of 8 simulated NPUs are free; you asked for 2 (3 users waiting)",
        "8 个 simulated NPU 中只有 1 个空闲，您申请了 2 个（3 人在等待）",
    ),
    (
        CapacityError("capacity_not_in_ring", free=4, total=8, npus=4, largest=4, waiting=0),
        "4 of 8 NPUs are free, but not 4 together inside one HCCS ring "
        "(the most free on one node is 4); ask for fewer or try again later",
        "8 个 NPU 中有 4 个空闲，但没有 4 个位于同一个 HCCS 环内（单个节点上最多空闲 4 个）；"
        "请少申请一些或稍后再试",
    ),
    (
        CapacityError("capacity_not_on_node", free=6, total=16, npus=8, largest=5, waiting=2),
        "6 of 16 NPUs are free, but not 8 together on one node "
        "(the most free on one node is 5); ask for fewer or try again later (2 users waiting)",
        "16 个 NPU 中有 6 个空闲，但没有 8 个位于同一个节点上（单个节点上最多空闲 5 个）；"
        "请少申请一些或稍后再试（2 人在等待）",
    ),
]


@pytest.mark.parametrize(("error", "en", "zh"), CAPACITY_CASES,
                         ids=[c[0].code for c in CAPACITY_CASES])
def test_capacity_refusals_read_correctly_in_english_and_chinese(error, en, zh):
    assert (str(error), error.message("zh_CN"), error.status) == (en, zh, 503)


def test_every_capacity_code_is_covered():
    assert {c[0].code for c in CAPACITY_CASES} == {
        code for code in MESSAGES if code.startswith("capacity_")}


def test_the_ledger_refuses_with_a_capacity_code(ledger):
    for user in ("ana", "ben"):
        ledger.allocate(user=user, groups=[], npus=4, kind="server", holder="",
                        device_type="simulated")
    with pytest.raises(CapacityError) as e:
        ledger.allocate(user="cy", groups=[], npus=1, kind="server", holder="",
                        device_type="simulated")
    assert (e.value.code, e.value.params["total"], e.value.status) == (
        "capacity_all_busy", 8, 503)
    assert e.value.message("zh_CN") == "全部 8 个 simulated NPU 都在使用中"


# ---------------------------------------------------------------- the service's one mapping


class _Refusing(APIHandler):
    async def prepare(self):  # no hub to ask: the mapping is what is tested here
        return

    async def get(self):
        raise QuotaError("quota_user_more", held=2, cap=4, npus=3, more=2)


class BaseHandlerTest(AsyncHTTPTestCase):
    def get_app(self):
        return Application([(r"/refuse", _Refusing)])

    def test_a_refusal_is_json_in_the_request_language(self):
        r = self.fetch("/refuse", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert r.code == 403
        body = json.loads(r.body)
        assert body["error"] == "quota_user_more"
        assert body["params"] == {"held": 2, "cap": 4, "npus": 3, "more": 2}
        assert body["message"] == "您已占用 4 个 NPU 配额中的 2 个，又申请了 3 个：最多还能再申请 2 个"
        r = self.fetch("/refuse")
        assert json.loads(r.body)["message"] == (
            "You hold 2 of your 4 NPUs and asked for 3: at most 2 more")
