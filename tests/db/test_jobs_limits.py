"""A user's job limits (SQLite and PostgreSQL): queued and running jobs at once, and of
them jobs without NPUs (CPU only), checked in the transaction that inserts the job, so a
burst of submissions at once never passes the limit."""

from __future__ import annotations

import threading

import pytest

from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.refusals import Refusal


@pytest.fixture
def queue(ledger):
    return JobQueue(ledger.session_factory)


def submit(queue, user="ana", npus=0, max_active=20, max_cpu=4) -> dict:
    return queue.submit(
        user=user, groups=[], account=user, name="t", source="t.ipynb", npus=npus,
        image="npuhub/base:latest", time_limit=60, backend="local",
        max_active=max_active, max_cpu=max_cpu,
    )  # fmt: skip


def test_the_fifth_cpu_job_is_refused(queue):
    ids = [submit(queue)["id"] for _ in range(4)]
    with pytest.raises(Refusal) as e:
        submit(queue)
    assert e.value.code == "too_many_cpu_jobs" and e.value.status == 429
    assert e.value.params["active"] == 4
    submit(queue, npus=1)  # a job with NPUs is not a CPU job
    submit(queue, user="bob")  # nor is another user's
    assert queue.finish(ids[0], "cancelled", "cancelled by ana")
    submit(queue)  # one ended: room for one more


def test_all_jobs_limit(queue):
    submit(queue, npus=1, max_active=2)
    submit(queue, npus=0, max_active=2)
    with pytest.raises(Refusal) as e:
        submit(queue, npus=1, max_active=2)
    assert e.value.code == "too_many_jobs" and e.value.params["active"] == 2


@pytest.mark.parametrize("npus", [0, 1])
def test_a_burst_never_passes_the_limit(queue, npus):
    """12 threads submit at once; exactly the limit's worth are queued."""
    n, limit = 12, 4
    barrier = threading.Barrier(n)
    queued, refused, errors = [], [], []

    def one():
        barrier.wait()
        try:
            queued.append(submit(queue, npus=npus, max_active=limit if npus else 20)["id"])
        except Refusal as r:
            refused.append(r.code)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(queued) == limit and len(refused) == n - limit
    assert set(refused) == {"too_many_cpu_jobs" if npus == 0 else "too_many_jobs"}
    assert queue.active_count("ana") == limit
