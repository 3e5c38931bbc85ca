"""The ledger's quota policies on SQLite and PostgreSQL: stored policies and overrides,
accounts, and the limits they make."""

from __future__ import annotations

import pytest

from npuhub.hub.ledger import QuotaError
from tests.db.helpers import alloc


def test_default_policy_refusals(ledger):
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=6)
    assert str(e.value) == "You asked for 6 NPUs; at most 4 per server are allowed for your account"
    alloc(ledger, "ana", npus=3, holder="a")
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=2, holder="b")
    assert str(e.value) == "You hold 3 of your 4 NPUs and asked for 2: at most 1 more"
    alloc(ledger, "ana", npus=1, holder="b")
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=1, holder="c")
    assert str(e.value) == "You already hold 4 of your 4 NPUs"


def test_group_policy_account_and_user_override(ledger):
    ledger.policies.set("cs101", group_max_npus=3, max_npus=2, max_npus_per_server=2)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", groups=["cs101", "lab"])
    assert str(e.value) == "You are in several groups; choose the account to charge: cs101, lab"
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", groups=["cs101", "lab"], account="physics")
    assert str(e.value) == "physics is not one of your accounts: cs101, lab"
    assert alloc(ledger, "ana", groups=["cs101", "lab"], account="cs101").account == "cs101"
    alloc(ledger, "ben", npus=2, groups=["cs101"])
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "cy", npus=1, groups=["cs101"])
    assert str(e.value) == "Group cs101 holds 3 of its 3 NPUs"
    # the lab has no policy of its own: the default applies there
    assert alloc(ledger, "cy", npus=4, groups=["lab"]).account == "lab"
    ledger.policies.set_user("dee", max_npus_per_server=1)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "dee", npus=2)
    assert str(e.value) == "You asked for 2 NPUs; at most 1 per server is allowed for your account"


def test_profiles_of_a_group(ledger):
    ledger.policies.set("cs101", profiles=["cs101-env"])
    alloc(ledger, "ana", groups=["cs101"], profile="cs101-env")
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ben", groups=["cs101"], profile="torch")
    assert str(e.value) == "Profile torch is not available to cs101; allowed: cs101-env"


def test_policies_are_stored_and_merged(ledger):
    assert ledger.policies.get("cs101") is None
    assert ledger.policies.all() == [
        {
            "group": "*",
            "max_npus_per_server": 4,
            "max_npus": 4,
            "group_max_npus": None,
            "npu_hours": None,
            "npu_hours_per_member": None,
            "period": "week",
            "max_session_hours": None,
            "profiles": None,
            "updated": None,
        }
    ]
    ledger.policies.set("cs101", max_npus=1, npu_hours=40, profiles=["a"])
    ledger.policies.set("cs101", period="day")  # partial: the rest stays
    p = ledger.policies.get("cs101")
    assert {k: v for k, v in p.items() if k != "updated"} == {
        "group": "cs101",
        "max_npus_per_server": None,
        "max_npus": 1,
        "group_max_npus": None,
        "npu_hours": 40.0,
        "npu_hours_per_member": None,
        "period": "day",
        "max_session_hours": None,
        "profiles": ["a"],
    }
    ledger.policies.set("*", npu_hours=100)
    assert [p["group"] for p in ledger.policies.all()] == ["*", "cs101"]
    assert ledger.policies.get("*")["npu_hours"] == 100.0
    assert ledger.policies.get("*")["max_npus"] == 4  # still the built-in default
    with pytest.raises(ValueError, match="Unknown limit"):
        ledger.policies.set("cs101", max_gpus=3)
    with pytest.raises(ValueError, match="period must be one of"):
        ledger.policies.set("cs101", period="year")
    with pytest.raises(ValueError, match="group's limit"):
        ledger.policies.set_user("ana", group_max_npus=3)
    with pytest.raises(ValueError, match="group's limit"):
        ledger.policies.set_user("ana", npu_hours_per_member=3)
    assert ledger.policies.set_user("ana", npu_hours=5)["npu_hours"] == 5.0
    assert ledger.policies.limits_for("ana", [])[1].user_npu_hours == 5.0
