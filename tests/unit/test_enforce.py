from datetime import UTC, datetime, timedelta

from npuhub.hub.enforce import Verdict, decide

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ALLOC = {"id": 7, "user": "ann", "account": "cs101", "holder": "", "npus": 2, "started": T0}
REASON = "Group cs101 has used 40.2 of 40 NPU-hours this week"
SPENT = {7: REASON, 9: REASON}
FINE = {7: None, 9: None}


def test_within_budget_nothing_happens():
    seen = {}
    assert decide([ALLOC], FINE, {7: None}, seen, T0 + timedelta(hours=1), timedelta(minutes=10)) == []
    assert seen == {}


def test_spent_budget_warns_then_stops_after_grace():
    seen = {}
    grace = timedelta(minutes=10)
    now = T0 + timedelta(hours=1)
    assert decide([ALLOC], SPENT, {7: None}, seen, now, grace) == [
        Verdict(7, "ann", "", "warn",
                "Group cs101 has used 40.2 of 40 NPU-hours this week: your server will be "
                "stopped at 11:10 UTC; save your work (your files are kept).",
                now + grace, "server", REASON)
    ]
    later = decide([ALLOC], SPENT, {7: None}, seen, now + grace, grace)
    assert [v.action for v in later] == ["stop"]
    assert later[0].message.endswith("your server is stopped; your files are kept.")


def test_session_limit():
    seen = {}
    grace = timedelta(0)
    v = decide([ALLOC], FINE, {7: 8}, seen, T0 + timedelta(hours=8), grace)
    assert v[0].action == "stop" and "limit of 8 hours" in v[0].message
    assert decide([ALLOC], FINE, {7: 8}, {}, T0 + timedelta(hours=7), grace) == []


def test_back_under_the_limit_forgets_the_warning():
    seen = {7: T0}
    decide([ALLOC], FINE, {7: None}, seen, T0 + timedelta(hours=1), timedelta(minutes=10))
    assert seen == {}


def test_servers_without_npus_are_left_alone():
    cpu_only = {**ALLOC, "npus": 0}
    assert decide([cpu_only], SPENT, {7: 1}, {}, T0 + timedelta(hours=5), timedelta(0)) == []


JOB = {**ALLOC, "id": 9, "kind": "job", "holder": "42"}


def test_running_jobs_of_a_spent_account_are_cancelled_after_grace():
    seen = {}
    grace = timedelta(minutes=10)
    now = T0 + timedelta(hours=1)
    (warn,) = decide([JOB], SPENT, {9: None}, seen, now, grace)
    assert (warn.kind, warn.server, warn.action) == ("job", "42", "warn")
    assert warn.message.endswith("job 42 will be cancelled at 11:10 UTC.")
    (stop,) = decide([JOB], SPENT, {9: None}, seen, now + grace, grace)
    assert stop.action == "stop"
    assert stop.reason == REASON
    assert "its log and outputs so far are kept" in stop.message


def test_session_limits_are_for_servers_not_jobs():
    # a job has its own time limit; max_session_hours does not cut it
    assert decide([JOB], FINE, {9: 1}, {}, T0 + timedelta(hours=5), timedelta(0)) == []
