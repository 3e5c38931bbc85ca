"""The one profile rule (configured + course profiles, groups, the quota's `profiles`),
with literal data."""

from npuhub.hub import profiles

BASE = {"slug": "base", "image": "npuhub/base:latest", "npus": [0, 1, 2, 4], "groups": []}
ASCEND = {
    "slug": "ascend", "image": "npuhub/ascend:latest", "npus": [1, 2], "groups": ["lab-vision"],
    "device_type": "Ascend910B",
}  # fmt: skip
COURSE = {
    "slug": "course-cs101", "image": "npuhub/base:latest", "npus": [0, 1],
    "groups": ["course-cs101-students", "course-cs101-instructors"],
}  # fmt: skip
STUDENTS = "course-cs101-students"


def slugs(found):
    return [p["slug"] for p in found]


def test_course_student_gets_the_course_profile_first():
    rules = profiles.rules([BASE, ASCEND], [COURSE], {STUDENTS: ["course-cs101"]})
    mine = profiles.usable(rules, [STUDENTS])
    assert slugs(mine) == ["course-cs101"]
    assert profiles.choose(mine) == COURSE  # the default of a request without a profile
    assert profiles.choose(mine, slug="base") is None
    assert profiles.choose(mine, image="npuhub/base:latest") == COURSE


def test_researcher_without_course_gets_the_first_configured():
    rules = profiles.rules([BASE, ASCEND], [COURSE], {"lab-vision": None})
    mine = profiles.usable(rules, ["lab-vision"])
    assert slugs(mine) == ["base", "ascend"]
    assert profiles.choose(mine)["slug"] == "base"
    assert profiles.choose(mine, slug="ascend") == ASCEND


def test_user_in_no_group_is_charged_to_their_own_account():
    rules = profiles.rules([BASE, ASCEND], [COURSE], {"ana": None})
    assert slugs(profiles.usable(rules, [])) == ["base"]


def test_the_account_charged_decides_the_quota_restriction():
    rules = profiles.rules(
        [BASE, ASCEND], [COURSE], {STUDENTS: ["course-cs101"], "lab-vision": None}
    )
    groups = [STUDENTS, "lab-vision"]
    assert slugs(profiles.usable(rules, groups)) == ["base", "ascend", "course-cs101"]
    assert slugs(profiles.usable(rules, groups, STUDENTS)) == ["course-cs101"]
    assert slugs(profiles.usable(rules, groups, "lab-vision")) == ["base", "ascend", "course-cs101"]


def test_several_restricted_accounts_allow_the_union():
    rules = profiles.rules([BASE, ASCEND], [], {"a": ["base"], "b": ["ascend"]})
    assert slugs(profiles.usable(rules, ["a", "b", "lab-vision"])) == ["base", "ascend"]
    rules = profiles.rules([BASE], [], {"a": []})
    assert profiles.usable(rules, ["a"]) == []
    assert profiles.choose([]) is None


def test_a_course_cannot_shadow_a_configured_slug():
    fake = {**COURSE, "slug": "base", "image": "evil/image"}
    rules = profiles.rules([BASE], [fake], {})
    assert rules.profiles == (BASE,)
