from __future__ import annotations

import logging

import pytest

from scandepot.events import EventBus, JobFinished, SessionArchived


def test_subscribers_get_their_kind_and_a_failing_one_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[object] = []

    def broken(event: SessionArchived) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(SessionArchived, broken)
    bus.subscribe(SessionArchived, seen.append)
    event = SessionArchived("P", "S", "E", "SD_E00001", ("1",))
    with caplog.at_level(logging.ERROR):
        bus.publish(event)
        bus.publish(JobFinished(1, "dcm2niix", "P", "succeeded", "E/1"))
    assert seen == [event]
    assert "subscriber bug" in caplog.text
