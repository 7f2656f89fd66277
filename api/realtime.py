"""The realtime hub: changes to export jobs and projects, fanned out to subscribers.

One hub per API process (``app.state.realtime``, made by :func:`api.app.create_app`); it
starts with its first subscriber and stops with the app. Each subscriber (a WebSocket
connection, api/routers/realtime.py) belongs to one user and follows topics:

- ``export_jobs``: every change of a job of that user;
- ``project:<id>``: changes to one project of that user (following another user's
  project is refused exactly like following one that does not exist).

**Where changes come from: the database, on both dialects.** With ``aura serve`` the flow
runs in the runner process, not in the API's, so its writes never reach this process's
in-process bus (:data:`core.realtime.bus`); projects edited through another API process
would not either. The database sees every writer, so it is the one source; listening to
the bus as well would push changes twice.

- PostgreSQL: the triggers of migration 0004 send ids on :data:`CHANGES_CHANNEL` when
  the writing transaction commits. One dedicated asyncpg connection LISTENs (and
  reconnects with exponential backoff when it drops, checking it every
  :data:`LISTENER_CHECK_INTERVAL_S`). A notification nobody here follows costs nothing;
  otherwise the hub reads the row once, with its own connection (not once per
  subscriber), and pushes it. After every (re)connect it catches up by reading what
  changed while it was not listening, as the SQLite watcher does.
- SQLite: a watcher reads, every :data:`POLL_INTERVAL_S`, the followed users' jobs whose
  ``updated_at`` is recent and the followed projects (a project that has disappeared was
  deleted).

**What is pushed.** A job event carries the job's whole current state (status, progress,
step, error, url), read when the hub handles the change; changes that follow each other
faster than that (the read on PostgreSQL, the poll interval on SQLite) are folded into
the newest. So the last state of a job always arrives, states arrive in the order they
were written and never go backwards, and a state equal to the last one pushed for that
job is not pushed again. A subscriber hears of changes committed after it began
following; one committed at that very moment may or may not be pushed.

Changes are handled one at a time, under one lock that following a topic also takes:
what a new follower is told starts exactly where the hub's record of the last pushed
states does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import Row, Select, select
from sqlalchemy.engine import make_url

from core.db import get_engine
from core.errors import AuraError, InputError
from core.settings import get_settings
from models.projects import ProjectNotFoundError
from models.tables import ExportJob, Project, utc_now

Event = dict[str, Any]

JOBS_TOPIC = "export_jobs"
PROJECT_TOPIC_PREFIX = "project:"
CHANGES_CHANNEL = "aura_changes"
"""The NOTIFY channel of migration 0004's triggers."""

POLL_INTERVAL_S = 0.25
"""SQLite: how often the watcher reads the tables (the delay a change may wait)."""
LOOKBACK_S = 60.0
"""How far back a read of the jobs table looks. ``updated_at`` is set by the writer when
it flushes, which may be a while before its transaction commits (SQLite makes a writer
wait up to 5 s for the write lock), and machines' clocks differ a little; states already
pushed are recognised and not pushed again."""
CONNECT_TIMEOUT_S = 10.0
LISTENER_CHECK_INTERVAL_S = 30.0
"""PostgreSQL: how often a quiet listener connection is checked with ``SELECT 1``, so that
a connection lost without a word (a dropped network) is noticed."""
LISTENER_CHECK_TIMEOUT_S = 10.0
RECONNECT_FIRST_DELAY_S = 0.5
RECONNECT_MAX_DELAY_S = 30.0
MAX_PENDING_EVENTS = 1000
"""Events waiting for one subscriber; beyond that it is too slow and its subscription ends."""
MAX_TOPICS = 100
"""Topics one subscriber may follow."""

logger = logging.getLogger(__name__)


class UnknownTopicError(InputError):
    """A topic that is neither ``export_jobs`` nor ``project:<id>``."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(f"there is no topic {topic!r}; topics are '{JOBS_TOPIC}' and "
                         f"'{PROJECT_TOPIC_PREFIX}<project id>'")


class TooManyTopicsError(InputError):
    def __init__(self, count: int) -> None:
        super().__init__(f"a connection may follow at most {MAX_TOPICS} topics, not {count}")


class SubscriptionEndedError(AuraError):
    """The hub ended a subscription; the message says why."""


class SubscriberTooSlowError(SubscriptionEndedError):
    def __init__(self) -> None:
        super().__init__(f"more than {MAX_PENDING_EVENTS} events were waiting for this "
                         "connection; join again")


class HubClosedError(SubscriptionEndedError):
    def __init__(self) -> None:
        super().__init__("the server is shutting down; join again in a moment")


def canonical_topic(topic: str) -> tuple[str, UUID | None]:
    """A topic as the hub writes it, and its project id (``None`` for ``export_jobs``).

    Raises:
        UnknownTopicError: not a topic.
        ProjectNotFoundError: ``project:`` followed by something that is not a project id.
    """
    if topic == JOBS_TOPIC:
        return topic, None
    if not topic.startswith(PROJECT_TOPIC_PREFIX):
        raise UnknownTopicError(topic)
    raw_id = topic.removeprefix(PROJECT_TOPIC_PREFIX)
    try:
        project_id = UUID(raw_id)
    except ValueError:
        raise ProjectNotFoundError(raw_id) from None
    return f"{PROJECT_TOPIC_PREFIX}{project_id}", project_id


class Subscription:
    """One subscriber: its user, the topics it follows and the events waiting for it."""

    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.topics: set[str] = set()
        self._pending: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._ended: SubscriptionEndedError | None = None

    async def next_event(self) -> Event:
        """The next event, waiting for one.

        Raises:
            SubscriptionEndedError: the hub ended the subscription (too slow, shutting down).
        """
        while not self._pending:
            if self._ended is not None:
                raise self._ended
            self._wake.clear()
            await self._wake.wait()
        return self._pending.popleft()

    def deliver(self, event: Event) -> None:
        if self._ended is not None:
            return
        if len(self._pending) >= MAX_PENDING_EVENTS:
            self.end(SubscriberTooSlowError())
            return
        self._pending.append(event)
        self._wake.set()

    def end(self, reason: SubscriptionEndedError) -> None:
        self._ended = reason
        self._pending.clear()
        self._wake.set()


@dataclass(frozen=True)
class _Change:
    """One notification of migration 0004's triggers."""

    table: str
    op: str
    id: UUID
    user_id: UUID | None

    @classmethod
    def parse(cls, payload: str) -> _Change:
        data = json.loads(payload)
        return cls(table=data["table"], op=data["op"], id=UUID(data["id"]),
                   user_id=UUID(data["user_id"]) if data.get("user_id") else None)


@dataclass(frozen=True)
class _CatchUp:
    """Read what changed since ``changed_since`` (notifications may have been missed)."""

    changed_since: datetime


@dataclass
class _FollowedProject:
    owner: UUID
    state: tuple[str, datetime] | None
    """(title, updated_at) last pushed; ``None`` once the project is deleted."""


_JOB_COLUMNS = (ExportJob.id, ExportJob.user_id, ExportJob.project_id, ExportJob.status,
                ExportJob.progress, ExportJob.step, ExportJob.error, ExportJob.url,
                ExportJob.updated_at)
_PROJECT_COLUMNS = (Project.id, Project.user_id, Project.title, Project.updated_at)


def _job_state(row: Row[Any]) -> tuple[Any, ...]:
    return (row.status, row.progress, row.step, row.error, row.url, row.project_id)


def _job_event(row: Row[Any]) -> Event:
    return {"type": "export_job", "topic": JOBS_TOPIC, "job_id": str(row.id),
            "project_id": str(row.project_id) if row.project_id else None,
            "status": str(row.status), "progress": row.progress, "step": row.step,
            "error": row.error, "url": row.url, "updated_at": row.updated_at.isoformat()}


def _project_event(project_id: UUID, row: Row[Any] | None) -> Event:
    topic = f"{PROJECT_TOPIC_PREFIX}{project_id}"
    if row is None:
        return {"type": "project", "topic": topic, "op": "delete",
                "project": {"id": str(project_id)}}
    return {"type": "project", "topic": topic, "op": "update",
            "project": {"id": str(row.id), "title": row.title,
                        "updated_at": row.updated_at.isoformat()}}


class RealtimeHub:
    """Fans changes of ``export_jobs`` and ``projects`` out to subscribers; see the module
    docstring. Use it from one event loop (the app's)."""

    def __init__(self, database_url: str | None = None) -> None:
        """Args:
            database_url: the database to follow; ``None`` means ``AURA_DATABASE_URL``,
                read when the first subscriber joins.
        """
        self._database_url = database_url
        self._subscriptions: dict[UUID, set[Subscription]] = {}
        self._job_states: dict[UUID, dict[UUID, tuple[Any, ...]]] = {}
        """user -> job -> state last pushed; a user is here while someone follows their jobs."""
        self._projects: dict[UUID, _FollowedProject] = {}
        """The projects someone follows."""
        # Handling a change and following a topic both take the lock (module docstring).
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._changes: asyncio.Queue[_Change | _CatchUp] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def join(self, user_id: UUID) -> Subscription:
        """A new subscription of ``user_id``, following nothing yet; starts the hub.

        Raises:
            HubClosedError: the hub has been closed.
        """
        if self._closed:
            raise HubClosedError()
        if not self._tasks:
            self._start()
        await self._ready.wait()
        subscription = Subscription(user_id)
        self._subscriptions.setdefault(user_id, set()).add(subscription)
        return subscription

    async def follow(self, subscription: Subscription, topics: Iterable[str]) -> None:
        """Add ``topics`` to what ``subscription`` follows: all of them, or none.

        Raises:
            UnknownTopicError: one is not a topic.
            ProjectNotFoundError: one names a project that is not the subscriber's own
                (another user's, a deleted one, or none at all: the same answer).
            TooManyTopicsError: it would follow more than :data:`MAX_TOPICS`.
        """
        wanted = dict(canonical_topic(topic) for topic in topics)
        new = {topic: project_id for topic, project_id in wanted.items()
               if topic not in subscription.topics}
        if len(subscription.topics) + len(new) > MAX_TOPICS:
            raise TooManyTopicsError(len(subscription.topics) + len(new))
        user_id = subscription.user_id
        project_ids = [project_id for project_id in new.values() if project_id is not None]
        async with self._lock:
            found = {}
            if project_ids:
                found = {row.id: row for row in await self._read(
                    select(*_PROJECT_COLUMNS).where(Project.id.in_(project_ids),
                                                    Project.user_id == user_id))}
            if missing := [project_id for project_id in project_ids if project_id not in found]:
                raise ProjectNotFoundError(missing[0])
            if JOBS_TOPIC in new and user_id not in self._job_states:
                await self._prime_jobs(user_id)
            for project_id, row in found.items():
                self._projects.setdefault(
                    project_id, _FollowedProject(user_id, (row.title, row.updated_at)))
            subscription.topics.update(new)

    def unfollow(self, subscription: Subscription, topics: Iterable[str]) -> None:
        """Stop following ``topics``; ones not followed, or not topics at all, are ignored."""
        dropped = set()
        for topic in topics:
            with contextlib.suppress(InputError):
                dropped.add(canonical_topic(topic)[0])
        subscription.topics -= dropped
        self._forget(subscription.user_id, dropped)

    def leave(self, subscription: Subscription) -> None:
        """End ``subscription``: it follows nothing any more."""
        self._subscriptions.get(subscription.user_id, set()).discard(subscription)
        self._forget(subscription.user_id, subscription.topics)
        subscription.topics = set()

    async def close(self) -> None:
        """Stop listening and watching, and end every subscription."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.end(HubClosedError())

    # Starting.

    def _start(self) -> None:
        self._database_url = self._database_url or get_settings().database_url
        if make_url(self._database_url).get_backend_name() == "postgresql":
            self._tasks = [asyncio.create_task(self._listen(), name="realtime listener"),
                           asyncio.create_task(self._apply_changes(), name="realtime changes")]
        else:
            self._tasks = [asyncio.create_task(self._watch_tables(), name="realtime watcher")]
            self._ready.set()

    # SQLite: watching the tables.

    async def _watch_tables(self) -> None:
        while True:
            try:
                async with self._lock:
                    await self._catch_up(utc_now() - timedelta(seconds=LOOKBACK_S))
            except Exception:
                # A failed read (a locked or missing file) must not end realtime for good.
                logger.exception("The realtime watcher could not read the tables")
            await asyncio.sleep(POLL_INTERVAL_S)

    # PostgreSQL: one listener connection.

    async def _listen(self) -> None:
        """LISTEN on one connection for as long as the hub runs, reconnecting with backoff;
        after each connect, queue a catch-up from the last moment it was known to listen."""
        assert self._database_url is not None
        dsn = make_url(self._database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        delay_s = RECONNECT_FIRST_DELAY_S
        listening_at = utc_now()
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                await connection.add_listener(CHANGES_CHANNEL, self._on_notification)
                self._changes.put_nowait(
                    _CatchUp(listening_at - timedelta(seconds=LOOKBACK_S)))
                self._ready.set()
                delay_s = RECONNECT_FIRST_DELAY_S
                while not lost.is_set():
                    listening_at = utc_now()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), LISTENER_CHECK_INTERVAL_S)
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1", timeout=LISTENER_CHECK_TIMEOUT_S)
                logger.warning("The realtime listener lost its connection; reconnecting in "
                               "%.1f s", delay_s)
            except Exception as exc:
                # Whatever broke the connection (a restart, the network, a timeout), the
                # listener must come back: log it and try again.
                logger.warning("The realtime listener's connection failed (%s: %s); "
                               "reconnecting in %.1f s", type(exc).__name__, exc, delay_s)
            finally:
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            # Joins wait for the first attempt only; after a failed one, the catch-up of the
            # next connect covers what they missed.
            self._ready.set()
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RECONNECT_MAX_DELAY_S)

    def _on_notification(self, _connection: object, _pid: int, _channel: str,
                         payload: str) -> None:
        try:
            change = _Change.parse(payload)
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignoring a malformed notification on %s: %.200s", CHANGES_CHANNEL,
                           payload)
            return
        self._changes.put_nowait(change)

    async def _apply_changes(self) -> None:
        while True:
            item = await self._changes.get()
            try:
                async with self._lock:
                    if isinstance(item, _CatchUp):
                        await self._catch_up(item.changed_since)
                    else:
                        await self._apply(item)
            except Exception:
                # One unreadable change (the database restarting) must not stop the others.
                logger.exception("The realtime hub could not handle %s", item)

    async def _apply(self, change: _Change) -> None:
        if change.table == "export_jobs":
            # Jobs are never deleted through AuraStudio; a deleted row has no state to push.
            if change.op == "delete" or change.user_id not in self._job_states:
                return
            for row in await self._read(select(*_JOB_COLUMNS).where(ExportJob.id == change.id)):
                self._job_changed(row)
        elif change.table == "projects" and change.id in self._projects:
            rows = [] if change.op == "delete" else await self._read(
                select(*_PROJECT_COLUMNS).where(Project.id == change.id))
            self._project_changed(change.id, rows[0] if rows else None)

    # Both: reading rows and pushing what changed.

    async def _read(self, statement: Select[Any]) -> Sequence[Row[Any]]:
        assert self._database_url is not None
        async with get_engine(self._database_url).connect() as connection:
            return (await connection.execute(statement)).all()

    async def _prime_jobs(self, user_id: UUID) -> None:
        """Record the states of ``user_id``'s recent jobs as pushed, so that a new follower
        hears of later changes only."""
        rows = await self._read(select(*_JOB_COLUMNS).where(
            ExportJob.user_id == user_id,
            ExportJob.updated_at > utc_now() - timedelta(seconds=LOOKBACK_S)))
        self._job_states[user_id] = {row.id: _job_state(row) for row in rows}

    async def _catch_up(self, changed_since: datetime) -> None:
        """Push the followed jobs changed since ``changed_since`` and the followed projects
        that changed, whatever the notifications said."""
        if self._job_states:
            rows = await self._read(
                select(*_JOB_COLUMNS)
                .where(ExportJob.user_id.in_(list(self._job_states)),
                       ExportJob.updated_at > changed_since)
                .order_by(ExportJob.updated_at))
            for row in rows:
                self._job_changed(row)
        if self._projects:
            project_ids = list(self._projects)
            found = {row.id: row for row in await self._read(
                select(*_PROJECT_COLUMNS).where(Project.id.in_(project_ids)))}
            for project_id in project_ids:
                self._project_changed(project_id, found.get(project_id))

    def _job_changed(self, row: Row[Any]) -> None:
        states = self._job_states.get(row.user_id)
        state = _job_state(row)
        if states is None or states.get(row.id) == state:
            return
        states[row.id] = state
        self._push(row.user_id, JOBS_TOPIC, _job_event(row))

    def _project_changed(self, project_id: UUID, row: Row[Any] | None) -> None:
        followed = self._projects.get(project_id)
        state = None if row is None else (row.title, row.updated_at)
        if followed is None or followed.state == state:
            return
        followed.state = state
        self._push(followed.owner, f"{PROJECT_TOPIC_PREFIX}{project_id}",
                   _project_event(project_id, row))

    def _push(self, user_id: UUID, topic: str, event: Event) -> None:
        for subscription in self._subscriptions.get(user_id, ()):
            if topic in subscription.topics:
                subscription.deliver(event)

    def _forget(self, user_id: UUID, topics: Iterable[str]) -> None:
        """Drop the records of ``topics`` that no subscription of ``user_id`` follows now."""
        subscriptions = self._subscriptions.get(user_id, set())
        for topic in topics:
            if any(topic in subscription.topics for subscription in subscriptions):
                continue
            if topic == JOBS_TOPIC:
                self._job_states.pop(user_id, None)
            else:
                self._projects.pop(UUID(topic.removeprefix(PROJECT_TOPIC_PREFIX)), None)
        if not subscriptions:
            self._subscriptions.pop(user_id, None)
