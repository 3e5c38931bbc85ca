"""A student's submissions of one assignment are capped and spaced: the check and the
insert are one transaction, so a burst of submissions at once stays within both."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from npuhub.hub.courses.course_file import CourseError
from tests.unit.test_course_manual import at, store  # noqa: F401  (fixtures)

FILES = {"problems.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'}


def test_attempts_are_capped_with_a_sentence_in_both_languages(store, monkeypatch):  # noqa: F811
    at(monkeypatch, "2026-09-10T00:00:00+00:00")
    for n in (1, 2, 3):
        assert store.submit("ai101", "ps1", "s1", FILES, max_attempts=3)["attempt"] == n
    with pytest.raises(CourseError) as e:
        store.submit("ai101", "ps1", "s1", FILES, max_attempts=3)
    assert e.value.code == "too_many_attempts" and e.value.status == 429
    assert e.value.message("en") == "You have submitted ps1 3 times, the most a student may"
    assert e.value.message("zh_CN") == "你已提交作业 ps1 3 次，已达到每位学生的上限"
    # another student has attempts of their own
    assert store.submit("ai101", "ps1", "s2", FILES, max_attempts=3)["attempt"] == 1


def test_a_second_submission_too_soon_says_how_long_to_wait(store, monkeypatch):  # noqa: F811
    at(monkeypatch, "2026-09-10T00:00:00+00:00")
    store.submit("ai101", "ps1", "s1", FILES, min_interval=10)
    at(monkeypatch, "2026-09-10T00:00:03+00:00")
    with pytest.raises(CourseError) as e:
        store.submit("ai101", "ps1", "s1", FILES, min_interval=10)
    assert e.value.code == "submit_too_soon" and e.value.params["seconds"] == 7
    assert e.value.message("zh_CN") == "你刚刚提交过作业 ps1：请在 7 秒后再提交"
    at(monkeypatch, "2026-09-10T00:00:10+00:00")
    assert store.submit("ai101", "ps1", "s1", FILES, min_interval=10)["attempt"] == 2


@pytest.mark.parametrize("max_attempts, min_interval, kept", [(3, 0, 3), (50, 10, 1)])
def test_a_burst_at_once_stays_within_the_limits(store, monkeypatch, max_attempts,  # noqa: F811
                                                 min_interval, kept):
    at(monkeypatch, "2026-09-10T00:00:00+00:00")

    def one(_):
        try:
            return store.submit("ai101", "ps1", "s3", FILES, max_attempts=max_attempts,
                                min_interval=min_interval)["attempt"]
        except CourseError as e:
            assert e.code in ("too_many_attempts", "submit_too_soon")
            return None

    with ThreadPoolExecutor(8) as pool:
        attempts = [a for a in pool.map(one, range(12)) if a is not None]
    assert sorted(attempts) == list(range(1, kept + 1))
