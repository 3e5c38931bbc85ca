"""A spawn request resolved once, from literal options and profile rules."""

import dataclasses

import pytest

from npuhub.hub import profiles
from npuhub.spawners.request import InvalidOptions, SpawnRequest, resolve

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
RULES = profiles.rules(
    [BASE, ASCEND], [COURSE], {STUDENTS: ["course-cs101"], "lab-vision": None, "ana": None}
)


def test_course_student_without_options_gets_the_course_profile():
    assert resolve({}, RULES, [STUDENTS]) == SpawnRequest(
        profile="course-cs101", image="npuhub/base:latest", npus=0
    )


def test_researcher_without_options_gets_the_first_configured_profile():
    assert resolve({}, RULES, ["lab-vision"]) == SpawnRequest(
        profile="base", image="npuhub/base:latest", npus=0
    )


def test_full_request_from_the_form():
    got = resolve({"profile": "ascend", "npus": "2", "account": "lab-vision"}, RULES,
                  ["lab-vision", STUDENTS])  # fmt: skip
    assert got == SpawnRequest(
        profile="ascend", image="npuhub/ascend:latest", npus=2, account="lab-vision",
        device_type="Ascend910B",
    )  # fmt: skip
    assert got.user_options() == {"profile": "ascend", "npus": 2, "account": "lab-vision"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.npus = 4


def test_legacy_image_picks_its_profile():
    got = resolve({"image": "npuhub/ascend:latest", "npus": 1}, RULES, ["lab-vision"])
    assert (got.profile, got.image, got.npus) == ("ascend", "npuhub/ascend:latest", 1)


@pytest.mark.parametrize(
    ("options", "groups", "message"),
    [
        ({"profile": "base"}, [STUDENTS],
         "profile 'base' is not one of yours: course-cs101"),
        ({"profile": "ascend"}, [], "profile 'ascend' is not one of yours: base"),
        ({"npus": 3}, ["lab-vision"], "npus=3 is not offered by profile 'base': 0, 1, 2, 4"),
        ({"npus": "two"}, [], "npus must be a whole number"),
        ({"npus": True}, [], "npus must be a whole number"),
        ({"account": "lab-x"}, ["lab-vision"], "account must be one of your groups: lab-vision"),
        ({"account": "ana"}, [], "account must be one of your groups: you have none"),
        ({"image": "evil:latest"}, [], "image 'evil:latest' is not allowed; choose a profile: base"),
        ({"cmd": "sh", "profile": "base"}, [], "Unknown option(s) cmd; use profile, npus, account"),
        ({"profile": "course-cs101", "account": "lab-vision"}, ["lab-vision"],
         "profile 'course-cs101' is not one of yours: base, ascend"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(options, groups, message):
    with pytest.raises(InvalidOptions) as e:
        resolve(options, RULES, groups)
    assert str(e.value) == message


def test_refusals_in_the_users_language():
    from npuhub.hub import i18n

    _ = i18n.translation("zh_CN").gettext
    with pytest.raises(InvalidOptions) as e:
        resolve({"profile": "base"}, RULES, [STUDENTS], _)
    assert str(e.value) == "配置 'base' 不属于您：course-cs101"
