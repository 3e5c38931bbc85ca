"""A queued job is checked again as it starts: its user's groups and datasets of now."""

from __future__ import annotations

from types import SimpleNamespace

from npuhub.hub.jobs.recheck import recheck

CATALOG = {
    "open": {"access": "public", "grants": [], "source": "/data/open-v2"},
    "lab": {"access": ["lab-vision"], "grants": [], "source": "/data/lab"},
}


def job(**kw):
    base = dict(id=7, user="ann", account="ann", groups=["lab-vision"],
                datasets=[["/data/open-v1", "open"], ["/data/lab", "lab"]])
    return SimpleNamespace(**{**base, **kw})


def test_unchanged_membership_starts_with_the_datasets_folders_of_now():
    now = recheck(job(), {"groups": ["lab-vision", "ai101"]}, CATALOG.get)
    assert now.refused is None
    assert now.groups == ["lab-vision", "ai101"]
    assert now.datasets == [["/data/open-v2", "open"], ["/data/lab", "lab"]]


def test_a_dataset_lost_with_a_group_or_gone_from_the_catalog_is_named():
    assert recheck(job(), {"groups": []}, CATALOG.get).refused == "dataset lab is no longer yours"
    gone = recheck(job(datasets=[["/x", "old"]]), {"groups": []}, CATALOG.get)
    assert gone.refused == "dataset old is no longer yours"
    # an administrator may use any dataset
    assert recheck(job(), {"groups": [], "admin": True}, CATALOG.get).refused is None


def test_the_charged_account_must_still_be_one_of_the_users():
    j = job(account="lab-vision", datasets=[])
    assert recheck(j, {"groups": ["lab-vision"]}, CATALOG.get).refused is None
    assert recheck(j, {"groups": []}, CATALOG.get).refused == (
        "ann is no longer a member of lab-vision, the account the job is charged to")
    assert recheck(j, None, CATALOG.get).refused == "user ann no longer exists"
