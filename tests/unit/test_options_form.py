"""The spawn form's choices: only NPU counts the quota allows, a course's card chosen
with the NPUs the course grants, and why nothing with NPUs can start."""

from npuhub.spawners.options_form import allowed_npus, blocked, choose, keep_choices

RESEARCH = {"slug": "default", "npus": [0, 1, 2, 4]}
COURSE = {"slug": "course-dl101", "npus": [0, 1]}


def test_a_course_card_is_chosen_with_the_npus_the_course_grants():
    form = choose([RESEARCH, COURSE], allowed=None)
    assert form["chosen"] == "course-dl101"
    assert [c["default"] for c in form["profiles"]] == [0, 1]


def test_only_counts_the_quota_allows_are_offered():
    form = choose([RESEARCH], allowed=2)
    assert form == {"profiles": [{**RESEARCH, "npus": [0, 1, 2], "default": 0}],
                    "chosen": "default"}
    assert choose([COURSE], allowed=0)["profiles"][0]["npus"] == [0]


def test_a_spent_budget_allows_no_npus():
    assert allowed_npus(4, {"npu_hours_budget": 5, "npu_hours_used": 5.2}) == 0
    assert allowed_npus(4, {"npu_hours_budget": 5, "npu_hours_used": 1.2}) == 4
    assert allowed_npus(None, {}) is None


def test_why_nothing_with_npus_can_start():
    spent = {"npu_hours_budget": 0, "npu_hours_used": 0}
    assert blocked(0, {}, [RESEARCH]) == "quota"
    assert blocked(0, spent, [RESEARCH]) == "budget"
    assert blocked(2, {}, [RESEARCH]) == ""
    assert blocked(0, {}, [{"slug": "cpu", "npus": [0]}]) == ""  # nothing to explain


def test_a_refused_start_keeps_the_users_choices():
    ctx = choose([RESEARCH, COURSE], allowed=None)
    keep_choices(ctx, {"profile": "default", "npus": "2"})
    assert ctx["chosen"] == "default" and ctx["profiles"][0]["default"] == 2
    keep_choices(ctx, {"profile": "gone", "npus": "9"})  # no longer offered: unchanged
    assert ctx["chosen"] == "default"


def test_refusals_read_as_sentences():
    from npuhub.hub.i18n import TemplateI18n

    wrapped = "HTTP 503: Service Unavailable (No NPU is free now (you asked for 2))"
    assert TemplateI18n().sentence(wrapped) == "No NPU is free now (you asked for 2)"
    assert TemplateI18n().sentence("Already a sentence.") == "Already a sentence."
