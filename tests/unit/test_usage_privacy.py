"""Who sees each member's usage of an account: its managers and a course's instructors."""

from npuhub.hub.service.usage import manages


def test_members_are_not_managers():
    assert not manages("lab-vision", "bob", ["lab-vision"], {})
    assert not manages("course-ai101-students", "s1", ["course-ai101-students"], {})
    assert not manages(None, "bob", [], {"lab-vision": ["bob"]})


def test_configured_managers_and_course_instructors():
    assert manages("lab-vision", "alice", ["lab-vision"], {"lab-vision": ["alice"]})
    assert not manages("lab-nlp", "alice", [], {"lab-vision": ["alice"]})
    for account in ("course-ai101-students", "course-ai101-instructors"):
        assert manages(account, "t", ["course-ai101-instructors"], {})
    assert not manages("course-ai102-students", "t", ["course-ai101-instructors"], {})
