"""Quota policy, pure: accounts, layered limits, periods and the refusals people read."""

from datetime import UTC, datetime

import pytest

from npuhub.hub.ledger.quota import (
    DEFAULT_LIMITS,
    LIMIT_FIELDS,
    Holdings,
    LedgerError,
    Limits,
    QuotaError,
    check,
    choose_account,
    effective_limits,
    fmt_hours,
    merge_layers,
    period_end,
    period_start,
    remaining_npus,
    spent,
)

WED = datetime(2025, 3, 5, 10, 30, tzinfo=UTC)  # a Wednesday


def refusal(*args, **kwargs) -> str:
    with pytest.raises(QuotaError) as e:
        check(*args, **kwargs)
    return str(e.value)


# ---------------------------------------------------------------- accounts


def test_one_group_is_the_account():
    assert choose_account("ana", ["cs101"], None) == "cs101"


def test_requested_account_must_be_one_of_the_groups():
    assert choose_account("ana", ["lab", "cs101"], "lab") == "lab"
    with pytest.raises(QuotaError) as e:
        choose_account("ana", ["lab", "cs101"], "physics")
    assert str(e.value) == "physics is not one of your accounts: cs101, lab"


def test_several_groups_must_choose_unless_the_hub_gives_a_default():
    with pytest.raises(QuotaError) as e:
        choose_account("ana", ["lab", "cs101"], None)
    assert str(e.value) == "You are in several groups; choose the account to charge: cs101, lab"
    assert choose_account("ana", ["lab", "cs101"], None, default="lab") == "lab"
    # a default the user is not in does not help
    with pytest.raises(QuotaError):
        choose_account("ana", ["lab", "cs101"], None, default="physics")


def test_no_group_is_a_personal_account():
    assert choose_account("ana", [], None) == "ana"
    assert choose_account("ana", [], "ana") == "ana"
    with pytest.raises(QuotaError) as e:
        choose_account("ana", [], "cs101")
    assert str(e.value) == "cs101 is not one of your accounts: ana"


def test_quota_error_is_a_ledger_error():
    assert issubclass(QuotaError, LedgerError)


# ---------------------------------------------------------------- limits


def test_embedded_default():
    assert DEFAULT_LIMITS == Limits(max_npus_per_server=4, max_npus=4)
    assert effective_limits(None, None, None) == Limits(
        max_npus_per_server=4, max_npus=4, group_max_npus=None, npu_hours=None, period="week"
    )


def test_layers_first_set_wins_field_by_field():
    default = {"max_npus_per_server": 4, "max_npus": 4, "npu_hours": 100.0, "period": "week"}
    group = {"max_npus": 8, "group_max_npus": 16, "npu_hours": None, "profiles": ["torch"]}
    user = {"max_npus": 2, "max_session_hours": 6.0}
    assert effective_limits(user, group, default) == Limits(
        max_npus_per_server=4,
        max_npus=2,
        group_max_npus=16,
        npu_hours=100.0,
        period="week",
        max_session_hours=6.0,
        profiles=("torch",),
        user_npu_hours=None,
    )


def test_user_hours_are_the_users_own_budget_not_the_accounts():
    limits = effective_limits({"npu_hours": 5}, {"npu_hours": 40}, None)
    assert (limits.npu_hours, limits.user_npu_hours) == (40, 5)


def test_group_cap_cannot_come_from_a_user_override():
    limits = effective_limits({"group_max_npus": 99}, {"group_max_npus": 16}, None)
    assert limits.group_max_npus == 16


def test_star_row_over_the_embedded_default():
    merged = merge_layers({"npu_hours": 50.0, "max_npus": None}, DEFAULT_LIMITS)
    assert effective_limits(None, None, merged) == Limits(
        max_npus_per_server=4, max_npus=4, npu_hours=50.0, period="week"
    )


def test_limit_fields_are_the_policy_columns():
    assert LIMIT_FIELDS == (
        "max_npus_per_server",
        "max_npus",
        "group_max_npus",
        "npu_hours",
        "npu_hours_per_member",
        "period",
        "max_session_hours",
        "profiles",
    )


def test_member_share_comes_from_the_group_never_from_a_user_override():
    limits = effective_limits(
        {"npu_hours_per_member": 99}, {"npu_hours": 100, "npu_hours_per_member": 5}, None
    )
    assert (limits.npu_hours, limits.npu_hours_per_member) == (100, 5)


def test_a_member_who_used_their_share_is_refused_while_the_group_has_hours():
    limits = Limits(npu_hours=100, npu_hours_per_member=5, period="week")
    ann = Holdings(account="cs101", account_hours=20.0, member_hours=5.2)
    bob = Holdings(account="cs101", account_hours=20.0, member_hours=1.0)
    with pytest.raises(QuotaError, match="You have used 5.2 of your 5 NPU-hours in cs101"):
        check(1, limits, ann)
    check(1, limits, bob)
    assert remaining_npus(limits, ann) == 0 and remaining_npus(limits, bob) is None
    check(0, limits, ann)  # a CPU-only server is still fine
    assert spent(limits, bob) is None and "5.2 of your 5" in spent(limits, ann)


# ---------------------------------------------------------------- periods


@pytest.mark.parametrize(
    "period, start, end",
    [
        ("day", datetime(2025, 3, 5, tzinfo=UTC), datetime(2025, 3, 6, tzinfo=UTC)),
        ("week", datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC)),
        ("month", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)),
    ],
)
def test_periods(period, start, end):
    assert period_start(period, WED) == start
    assert period_end(period, WED) == end


def test_period_edges():
    monday = datetime(2025, 3, 3, tzinfo=UTC)
    assert period_start("week", monday) == monday
    assert period_end("month", datetime(2025, 12, 31, 23, 59, tzinfo=UTC)) == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="period must be one of day, week, month"):
        period_start("year", WED)


def test_fmt_hours():
    assert [fmt_hours(x) for x in (40.0, 39.5, 0.04, 12.345)] == ["40", "39.5", "0", "12.3"]


# ---------------------------------------------------------------- the check

CS101 = Limits(max_npus_per_server=4, max_npus=4, group_max_npus=16, npu_hours=40, period="week")


def test_within_limits_passes():
    check(4, CS101, Holdings(account="cs101", account_npus=12, account_hours=39.9))


def test_per_server():
    assert (
        refusal(6, CS101, Holdings(account="cs101"))
        == "You asked for 6 NPUs; at most 4 per server are allowed for cs101"
    )
    one = Limits(max_npus_per_server=1)
    assert (
        refusal(2, one, Holdings(account="ana", personal=True))
        == "You asked for 2 NPUs; at most 1 per server is allowed for your account"
    )


def test_user_total():
    assert (
        refusal(1, CS101, Holdings(account="cs101", user_npus=4))
        == "You already hold 4 of your 4 NPUs"
    )
    assert (
        refusal(3, CS101, Holdings(account="cs101", user_npus=2))
        == "You hold 2 of your 4 NPUs and asked for 3: at most 2 more"
    )


def test_group_total():
    assert (
        refusal(1, CS101, Holdings(account="cs101", account_npus=16))
        == "Group cs101 holds 16 of its 16 NPUs"
    )
    assert (
        refusal(4, CS101, Holdings(account="cs101", account_npus=13))
        == "Group cs101 holds 13 of its 16 NPUs; you asked for 4, 3 are left"
    )


def test_hours_budget_with_the_reset():
    assert (
        refusal(1, CS101, Holdings(account="cs101", account_hours=40.0, now=WED))
        == "Group cs101 has used 40 of 40 NPU-hours this week; the budget resets Monday 00:00 UTC"
    )
    daily = Limits(npu_hours=8, period="day")
    assert (
        refusal(1, daily, Holdings(account="ana", account_hours=8.25, personal=True, now=WED))
        == "Your account has used 8.2 of 8 NPU-hours today; the budget resets at 00:00 UTC"
    )
    monthly = Limits(npu_hours=100, period="month")
    assert (
        refusal(1, monthly, Holdings(account="lab", account_hours=100, now=WED))
        == "Group lab has used 100 of 100 NPU-hours this month; the budget resets on 1 April "
        "00:00 UTC"
    )


def test_users_own_hours_budget():
    limits = Limits(user_npu_hours=10)
    assert (
        refusal(1, limits, Holdings(account="cs101", user_hours=10.0, now=WED))
        == "You have used 10 of your 10 NPU-hours this week; the budget resets Monday 00:00 UTC"
    )


def test_profiles():
    limits = Limits(profiles=("cs101-env",))
    check(1, limits, Holdings(account="cs101"), profile="cs101-env")
    assert (
        refusal(1, limits, Holdings(account="cs101"), profile="torch-npu")
        == "Profile torch-npu is not available to cs101; allowed: cs101-env"
    )
    # no profile asked: nothing to refuse here
    check(1, limits, Holdings(account="cs101"))


def test_zero_npus_is_always_allowed_even_over_budget():
    check(0, CS101, Holdings(account="cs101", user_npus=4, account_npus=16, account_hours=99))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_counts(bad):
    assert refusal(bad, CS101, Holdings(account="cs101")) == (
        f"The number of NPUs must be a whole number, 0 or more, not {bad!r}"
    )


def test_remaining():
    assert remaining_npus(CS101, Holdings(account="cs101", user_npus=1)) == 3
    assert remaining_npus(CS101, Holdings(account="cs101", account_npus=15)) == 1
    assert remaining_npus(CS101, Holdings(account="cs101", account_hours=40)) == 0
    assert remaining_npus(Limits(), Holdings(account="x")) is None
