"""What people type, read once (hub/parsing.py): time limits and job parameters."""

from __future__ import annotations

import pytest

from npuhub.hub.parsing import check_time_limit, parse_parameters, parse_time_limit
from npuhub.hub.refusals import Refusal


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [
        ("90", 90),
        (90, 90),
        (90.0, 90),
        ("1:30:00", 5400),
        ("30:00", 1800),
        ("2h", 7200),
        ("45m", 2700),
        ("90s", 90),
        ("1h30m", 5400),
        ("1d2h", 93600),
        ("1.5h", 5400),
        (" 2H ", 7200),
        ("1h 30m", 5400),
    ],
)
def test_time_limits(typed, seconds):
    assert parse_time_limit(typed) == seconds


@pytest.mark.parametrize("typed", [None, "", "  "])
def test_nothing_typed_is_no_time_limit(typed):
    assert parse_time_limit(typed) is None
    assert check_time_limit(typed, default=600, maximum=3600) == 600


@pytest.mark.parametrize(
    "typed", ["2 hours", "abc", "1:99:00", "1:2:3:4", "-5", "h", "30m2h", "2h2h", "1e3", True,
              [60], "9" * 40]
)
def test_nonsense_is_a_400_naming_the_field(typed):
    with pytest.raises(Refusal) as e:
        parse_time_limit(typed, "time_limit")
    assert (e.value.code, e.value.status, e.value.params["field"]) == (
        "bad_time_limit", 400, "time_limit")
    assert str(e.value).startswith("time_limit ")
    assert e.value.message("zh_CN").startswith("time_limit ")
    assert "不是有效的时长" in e.value.message("zh_CN")


def test_a_limit_out_of_range_names_the_field_and_the_maximum():
    with pytest.raises(Refusal) as e:
        check_time_limit("2h", default=600, maximum=3600)
    assert str(e.value) == "time_limit must be from 1 second to 1:00:00, got 2:00:00"
    with pytest.raises(Refusal):
        check_time_limit(0, default=600, maximum=3600)


@pytest.mark.parametrize(
    ("typed", "parameters"),
    [
        ("msg=hello, world", {"msg": "hello, world"}),
        ("msg=hello, world\nlr=0.01\nepochs=3", {"msg": "hello, world", "lr": 0.01, "epochs": 3}),
        ("  a = x=y  \n\n# a comment\n", {"a": "x=y"}),
        ("flag=true\noff=false\nnone=null", {"flag": True, "off": False, "none": None}),
        ('s="3"\nq=\'4\'', {"s": "3", "q": "4"}),
        ("yes=yes\nlist=[1, 2]", {"yes": "yes", "list": "[1, 2]"}),
        ('{"msg": "hello, world", "lr": 0.01}', {"msg": "hello, world", "lr": 0.01}),
        ({"msg": "hello, world"}, {"msg": "hello, world"}),
        ("", {}),
        (None, {}),
    ],
)
def test_parameters(typed, parameters):
    assert parse_parameters(typed) == parameters


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("lr", "bad_parameter_line"),
        ("=3", "bad_parameter_line"),
        ("{nope", "bad_parameters_json"),
        ("[1, 2]", "bad_parameter_line"),
        (["lr=1"], "bad_parameters"),
        (3, "bad_parameters"),
    ],
)
def test_parameters_that_do_not_read(typed, code):
    with pytest.raises(Refusal) as e:
        parse_parameters(typed)
    assert (e.value.code, e.value.status, e.value.params["field"]) == (code, 400, "parameters")
    assert str(e.value).startswith("parameters")
