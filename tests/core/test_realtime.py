"""Realtime events reach in-process listeners, and NOTIFY payloads stay small."""

from __future__ import annotations

import json

import pytest

from core.realtime import EventBus, export_jobs_topic, notify_payload


def test_listeners_hear_their_topic_and_the_wildcard():
    bus, heard = EventBus(), []
    bus.subscribe("export_jobs:u1", lambda topic, event: heard.append(("u1", event["n"])))
    unsubscribe = bus.subscribe("*", lambda topic, event: heard.append(("*", event["n"])))
    bus.publish("export_jobs:u1", {"n": 1})
    bus.publish("export_jobs:u2", {"n": 2})
    unsubscribe()
    bus.publish("export_jobs:u1", {"n": 3})
    assert heard == [("u1", 1), ("*", 1), ("*", 2), ("u1", 3)]


def test_a_failing_listener_does_not_stop_the_others():
    bus, heard = EventBus(), []
    bus.subscribe("t", lambda topic, event: 1 / 0)
    bus.subscribe("t", lambda topic, event: heard.append(event))
    bus.publish("t", {"ok": True})
    assert heard == [{"ok": True}]


def test_local_jobs_have_their_own_topic():
    assert export_jobs_topic(None) == "export_jobs:local"
    assert export_jobs_topic("abc") == "export_jobs:abc"


def test_notify_payloads_carry_ids_only():
    payload = json.loads(notify_payload("export_jobs:u", {
        "type": "export_job.step", "job_id": "j", "status": "running", "error": "x" * 10_000}))
    assert payload == {"topic": "export_jobs:u", "type": "export_job.step", "job_id": "j",
                       "status": "running"}
    with pytest.raises(ValueError, match="over the limit"):
        notify_payload("t" * 9000, {})
