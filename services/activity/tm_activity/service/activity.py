"""Use cases of reading the activity log: the caller's history, a task's timeline, stats."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from tm_activity.domain.access import may_read_timeline
from tm_activity.domain.details import as_logged
from tm_activity.domain.entries import Entry
from tm_activity.domain.queries import After, HistoryQuery, timeline_page_size
from tm_activity.service.unit_of_work import OwnWrites, UnitOfWorkFactory
from tm_common.errors import InvalidArgument, NotFound
from tm_common.paging import PageTokens, Scope
from tm_common.write_marks import Settled

FRESH = Settled(stale=False, waited=0.0)
# Bound into timeline tokens, so that a token made while timelines were newest first is refused
# rather than read the other way.
TIMELINE_ORDER = "oldest-first"


@dataclass
class ActivityDeps:
    uow: UnitOfWorkFactory  # the audit log and timeline access in one transaction
    tokens: PageTokens  # of the history and the timelines
    own_writes: OwnWrites  # every read first waits (boundedly) for the caller's own writes


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_page_token: str  # "" on the last page
    freshness: Settled = FRESH


@dataclass(frozen=True)
class ActivityStats:
    total: int
    by_action: dict[str, int]
    by_resource: dict[str, int]
    freshness: Settled = FRESH


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _token(deps: ActivityDeps, scope: Scope, bound_to: str, last: Entry) -> str:
    return deps.tokens.make(scope, [bound_to, last.created_at.isoformat(), last.id])


def _after(deps: ActivityDeps, scope: Scope, token: str, bound_to: str) -> After | None:
    if not token:
        return None
    made_for, created_at, entry_id = deps.tokens.read(scope, token, 3)
    try:
        if type(entry_id) is not int or not 0 < entry_id <= 2**31 - 1:
            raise ValueError("entry id")
        after = (datetime.fromisoformat(created_at), entry_id)
        if after[0].tzinfo is None or after[0].isoformat() != created_at:  # only _token's spelling
            raise ValueError("created_at")
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgument.for_field("page_token", "is not a page token of this service") from None
    if made_for != bound_to:
        raise InvalidArgument.for_field("page_token", "was made for other filters")
    return after


async def my_history(deps: ActivityDeps, user_id: int, query: HistoryQuery, page_token: str) -> Page:
    """The caller's own actions, newest first: a page by offset, or after a page token."""
    scope: Scope = ("ListActivity", user_id)
    bound_to = _fingerprint(user_id, query.resource_type, query.action, query.since, query.until)
    after = _after(deps, scope, page_token, bound_to)
    freshness = await deps.own_writes.settle()
    async with deps.uow(read_only=True) as uow:
        found = await uow.entries.history(user_id, query, after)
    page = [as_logged(entry) for entry in found[: query.limit]]
    more = len(found) > query.limit
    return Page(page, _token(deps, scope, bound_to, page[-1]) if more else "", freshness)


async def task_timeline(
    deps: ActivityDeps, user_id: int, task_id: int, page_size: int, page_token: str
) -> Page:
    """Everything that happened to a task and its comments and files, oldest first (as the
    original), for whoever may read the task now; NotFound for anyone else, and for everyone once
    the task is deleted (as the task itself)."""
    limit = timeline_page_size(page_size)
    scope: Scope = ("GetTaskTimeline", user_id, task_id)
    bound_to = _fingerprint(task_id, TIMELINE_ORDER)
    after = _after(deps, scope, page_token, bound_to)
    freshness = await deps.own_writes.settle()
    async with deps.uow(read_only=True) as uow:
        if not may_read_timeline(await uow.access.timeline_access(task_id, user_id), user_id):
            raise NotFound(f"task {task_id} not found")
        found = await uow.entries.timeline(task_id, after, None if limit is None else limit + 1)
    more = limit is not None and len(found) > limit
    entries = [as_logged(entry) for entry in found[:limit]]
    return Page(entries, _token(deps, scope, bound_to, entries[-1]) if more else "", freshness)


async def my_stats(deps: ActivityDeps, user_id: int) -> ActivityStats:
    freshness = await deps.own_writes.settle()
    async with deps.uow(read_only=True) as uow:
        by_action, by_resource = await uow.entries.counts(user_id)
    total = sum(by_action.values())
    return ActivityStats(total, by_action, by_resource, freshness)
