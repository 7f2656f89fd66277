"""Realtime events: what changed, on which topic.

Topics name what a client follows: ``export_jobs:{user_id}`` (``local`` for jobs with no
user, such as command-line renders) and ``project:{project_id}``. Every event goes to the
in-process :data:`bus`, where the command line's progress bars listen. On PostgreSQL it
is also sent with NOTIFY on :data:`NOTIFY_CHANNEL`, ids only (payloads stay far below
PostgreSQL's 8,000-byte limit), for listeners in other processes.

The API's WebSocket (api/realtime.py) does not listen here: flows usually run in another
process (the runner of ``aura serve``), so it follows the database itself, through the
triggers of migration 0004 on PostgreSQL and by watching the tables on SQLite.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Event = dict[str, Any]
Listener = Callable[[str, Event], None]

NOTIFY_CHANNEL = "aura_events"
MAX_NOTIFY_PAYLOAD_BYTES = 8000
_NOTIFY_FIELDS = ("type", "id", "job_id", "project_id", "user_id", "status")

logger = logging.getLogger(__name__)


class EventBus:
    """Thread-safe in-process publish/subscribe by exact topic (``*`` hears every topic)."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener(topic, event)`` for every event on ``topic``; returns unsubscribe."""
        with self._lock:
            self._listeners[topic].append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners.get(topic, []):
                    self._listeners[topic].remove(listener)

        return unsubscribe

    def publish(self, topic: str, event: Event) -> None:
        """Deliver ``event`` to the topic's listeners; a failing listener is logged, not raised."""
        with self._lock:
            listeners = [*self._listeners.get(topic, []), *self._listeners.get("*", [])]
        for listener in listeners:
            try:
                listener(topic, event)
            except Exception:
                logger.exception("Realtime listener failed on topic %s", topic)


bus = EventBus()


def export_jobs_topic(user_id: object | None) -> str:
    return f"export_jobs:{user_id or 'local'}"


def notify_payload(topic: str, event: Event) -> str:
    """The NOTIFY payload for an event: its topic and ids only."""
    slim = {k: str(event[k]) for k in _NOTIFY_FIELDS if event.get(k) is not None}
    payload = json.dumps({"topic": topic, **slim}, separators=(",", ":"))
    if len(payload.encode()) > MAX_NOTIFY_PAYLOAD_BYTES:
        raise ValueError(f"NOTIFY payload for {topic} is {len(payload)} bytes, over the limit")
    return payload


async def publish(topic: str, event: Event, session: AsyncSession | None = None) -> None:
    """Publish in-process and, when ``session`` is on PostgreSQL, with NOTIFY in its transaction."""
    if session is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, :payload)"),
                              {"channel": NOTIFY_CHANNEL, "payload": notify_payload(topic, event)})
    bus.publish(topic, event)
