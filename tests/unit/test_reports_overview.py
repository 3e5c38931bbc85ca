"""The operators' overview's pure parts: the summary line, holder labels, durations."""

from npuhub.hub.reports.overview import duration, holder_label, summary_line


def test_summary_line_counts_each_state():
    states = ["held"] * 3 + ["free"] * 4 + ["drained"]
    assert summary_line(states) == "8 devices: 3 held, 4 free, 1 drained"
    assert summary_line(["free"]) == "1 device: 1 free"
    assert summary_line([]) == "0 devices"


def test_holder_labels():
    assert holder_label(None) == "-"
    assert holder_label({"user": "ana", "kind": "server", "holder": ""}) == "ana: server"
    assert holder_label({"user": "ana", "kind": "server", "holder": "big"}) == "ana: server big"
    assert holder_label({"user": "bob", "kind": "job", "holder": "12"}) == "bob: job 12"


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (None, 42, 95, 3725, 90061)] == [
        "-", "42s", "1m 35s", "1h 2m", "1d 1h"]
