"""The use cases of reading the activity log against the in-memory unit of work (conftest.py): the
caller's history with its filters and pages, a task's timeline and who may read it, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tm_activity.domain.queries import history_query
from tm_activity.service import activity
from tm_common.errors import InvalidArgument, NotFound

OWNER, VIEWER, STRANGER = 1, 2, 3
TASK = 40
DAY = datetime(2026, 11, 10, 12, tzinfo=UTC)


def query(**fields: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"resource_type": None, "action": None, "start_date": None, "end_date": None}
    return history_query(**(values | {"limit": None, "offset": None} | fields))  # type: ignore[arg-type]


async def history(fake, user_id: int = OWNER, token: str = "", **fields: object):  # type: ignore[no-untyped-def]
    return await activity.my_history(fake.deps, user_id, query(**fields), token)


@pytest.fixture
def log(fake):  # type: ignore[no-untyped-def]
    """OWNER's five entries of TASK a day apart (oldest first), and one of VIEWER elsewhere."""
    kinds = [("created", "task", TASK), ("updated", "task", TASK), ("created", "comment", 7)]
    kinds += [("uploaded", "file", 8), ("deleted", "comment", 7)]
    made = [
        fake.entry(
            OWNER,
            TASK,
            action=action,
            resource_type=kind,
            resource_id=resource,
            created_at=DAY + timedelta(n),
        )
        for n, (action, kind, resource) in enumerate(kinds)
    ]
    fake.entry(VIEWER, TASK + 2, action="updated", created_at=DAY)
    return made


async def test_history_is_the_callers_own_newest_first(fake, log) -> None:
    page = await history(fake)
    assert page.entries == log[::-1]
    assert page.next_page_token == ""
    assert [e.user_id for e in (await history(fake, VIEWER)).entries] == [VIEWER]
    assert (await history(fake, STRANGER)).entries == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"resource_type": "comment"}, [4, 2]),
        ({"action": "created"}, [2, 0]),
        ({"resource_type": "task", "action": "created"}, [0]),
        ({"start_date": "2026-11-11"}, [4, 3, 2, 1]),
        ({"end_date": "2026-11-11"}, [1, 0]),  # the end day is whole
        ({"start_date": "2026-11-11", "end_date": "2026-11-12"}, [2, 1]),
        ({"action": "shared"}, []),
        ({"offset": 3}, [1, 0]),
        ({"limit": 2, "offset": 1}, [3, 2]),
    ],
)
async def test_history_filters(fake, log, fields: dict, expected: list[int]) -> None:
    assert (await history(fake, **fields)).entries == [log[i] for i in expected]


async def test_history_pages_with_tokens_through_ties_of_time(fake) -> None:
    same_time = [fake.entry(OWNER, TASK, created_at=DAY) for _ in range(5)]
    seen, token, pages = [], "", 0
    while True:
        page = await history(fake, token=token, limit=2)
        seen += page.entries
        token, pages = page.next_page_token, pages + 1
        if not token:
            break
    assert seen == same_time[::-1]  # ties by id, each entry once
    assert pages == 3


async def test_a_full_last_page_has_no_token(fake, log) -> None:
    assert (await history(fake, limit=5)).next_page_token == ""
    assert (await history(fake, limit=4)).next_page_token != ""


async def test_a_history_token_works_only_for_its_filters_and_its_user(fake, log) -> None:
    token = (await history(fake, limit=1)).next_page_token
    with pytest.raises(InvalidArgument, match="other filters") as refused:
        await history(fake, token=token, limit=1, action="created")
    assert set(refused.value.fields) == {"page_token"}
    for user_id, bad in ((VIEWER, token), (OWNER, token[:-2]), (OWNER, "garbage")):
        with pytest.raises(InvalidArgument) as refused:
            await history(fake, user_id, token=bad, limit=1)
        assert set(refused.value.fields) == {"page_token"}


async def test_a_token_ignores_the_offset_it_was_not_made_with(fake, log) -> None:
    token = (await history(fake, limit=2)).next_page_token
    assert (await history(fake, token=token, limit=2, offset=1)).entries == [log[2], log[1]]


async def test_reads_use_read_only_units_of_work(fake, log) -> None:
    fake.owner(TASK, OWNER)
    await history(fake)
    await activity.task_timeline(fake.deps, OWNER, TASK, 0, "")
    await activity.my_stats(fake.deps, OWNER)
    assert [u.read_only for u in fake.units.opened] == [True, True, True]
    assert not any(u.committed for u in fake.units.opened)


async def timeline(fake, user_id: int, task_id: int = TASK, page_size: int = 0, token: str = ""):  # type: ignore[no-untyped-def]
    return await activity.task_timeline(fake.deps, user_id, task_id, page_size, token)


async def test_the_owner_reads_the_whole_timeline_oldest_first(fake, log) -> None:
    fake.owner(TASK, OWNER)
    fake.entry(OWNER, TASK + 1, created_at=DAY + timedelta(days=2))  # another task's
    same_time = fake.entry(VIEWER, TASK, created_at=DAY)  # comes last among equals, by id
    page = await timeline(fake, OWNER)
    assert page.entries == [log[0], same_time, log[1], log[2], log[3], log[4]]
    assert page.next_page_token == ""


async def test_a_user_it_is_shared_with_reads_it_while_the_share_lasts(fake, log) -> None:
    fake.owner(TASK, OWNER)
    fake.viewer(TASK, VIEWER)
    assert len((await timeline(fake, VIEWER)).entries) == 5
    fake.viewer(TASK, VIEWER, active=False)
    with pytest.raises(NotFound, match=f"task {TASK} not found"):
        await timeline(fake, VIEWER)


@pytest.mark.parametrize("user_id", [OWNER, VIEWER, STRANGER])
async def test_after_the_delete_nobody_reads_it(fake, log, user_id: int) -> None:
    fake.owner(TASK, OWNER)
    fake.viewer(TASK, VIEWER)
    if user_id != STRANGER:
        assert len((await timeline(fake, user_id)).entries) == 5
    fake.owner(TASK, OWNER, deleted=True)
    with pytest.raises(NotFound, match=f"task {TASK} not found"):
        await timeline(fake, user_id)
    assert len((await history(fake, OWNER)).entries) == 5  # the owner's actions stay in its history


@pytest.mark.parametrize(("user_id", "task_id"), [(STRANGER, TASK), (OWNER, TASK + 1)])
async def test_strangers_and_unknown_tasks_are_not_found(fake, log, user_id: int, task_id: int) -> None:
    fake.owner(TASK, OWNER)
    fake.viewer(TASK, VIEWER, active=False)
    with pytest.raises(NotFound):
        await timeline(fake, user_id, task_id)


async def test_the_timeline_pages_with_tokens_of_its_task(fake, log) -> None:
    fake.owner(TASK, OWNER)
    fake.owner(TASK + 1, OWNER)
    first = await timeline(fake, OWNER, page_size=2)
    assert first.entries == [log[0], log[1]] and first.next_page_token
    later = fake.entry(OWNER, TASK, created_at=DAY + timedelta(days=9))  # added between pages
    second = await timeline(fake, OWNER, page_size=2, token=first.next_page_token)
    third = await timeline(fake, OWNER, page_size=2, token=second.next_page_token)
    assert second.entries + third.entries == [log[2], log[3], log[4], later]
    assert third.next_page_token == ""
    with pytest.raises(InvalidArgument):  # made for another task
        await timeline(fake, OWNER, TASK + 1, page_size=2, token=first.next_page_token)
    with pytest.raises(InvalidArgument, match="page_size"):
        await timeline(fake, OWNER, page_size=1001)


async def test_a_timeline_token_is_its_users_own(fake, log) -> None:
    fake.owner(TASK, OWNER)
    fake.viewer(TASK, VIEWER)
    token = (await timeline(fake, OWNER, page_size=1)).next_page_token
    with pytest.raises(InvalidArgument) as refused:
        await timeline(fake, VIEWER, page_size=1, token=token)
    assert set(refused.value.fields) == {"page_token"}


async def test_stats_count_the_callers_entries(fake, log) -> None:
    stats = await activity.my_stats(fake.deps, OWNER)
    assert stats.total == 5
    assert stats.by_action == {"created": 2, "updated": 1, "uploaded": 1, "deleted": 1}
    assert stats.by_resource == {"task": 2, "comment": 2, "file": 1}
    empty = await activity.my_stats(fake.deps, STRANGER)
    assert (empty.total, empty.by_action, empty.by_resource) == (0, {}, {})


async def test_every_read_first_waits_for_the_callers_own_writes(fake) -> None:
    fake.own_writes.stale = True
    history = await activity.my_history(fake.deps, 1, history_query(None, None, None, None, None, None), "")
    stats = await activity.my_stats(fake.deps, 1)
    assert fake.own_writes.settled == 2
    assert history.freshness.stale and stats.freshness.stale


async def test_a_timeline_token_of_a_page_of_one_is_followed_to_the_end(fake, log) -> None:
    fake.owner(TASK, OWNER)
    seen, token = [], ""
    while True:
        page = await timeline(fake, OWNER, page_size=1, token=token)
        seen += page.entries
        token = page.next_page_token
        if not token:
            break
    assert seen == log  # oldest first, each once


async def test_a_token_made_when_timelines_were_newest_first_is_refused(fake, log) -> None:
    fake.owner(TASK, OWNER)
    newest_first = activity._fingerprint(TASK)  # what tokens were bound to before
    token = fake.deps.tokens.make(("GetTaskTimeline", OWNER, TASK), [newest_first, DAY.isoformat(), 1])
    with pytest.raises(InvalidArgument) as refused:
        await timeline(fake, OWNER, page_size=1, token=token)
    assert set(refused.value.fields) == {"page_token"}


STORED_UPLOAD = {"task_id": TASK, "file": {"id": 8, "original_filename": "a.pdf", "file_size": 10}}
STORED_UPDATE = {"changes": {"title": {"old": "a", "new": "b"}}}


async def test_history_and_timeline_serve_the_original_details_of_stored_rows(fake) -> None:
    fake.owner(TASK, OWNER)
    fake.entry(OWNER, TASK, action="updated", details=STORED_UPDATE, created_at=DAY)
    fake.entry(OWNER, TASK, action="uploaded", resource_type="file", resource_id=8, details=STORED_UPLOAD,
               created_at=DAY + timedelta(1))  # fmt: skip
    update = {"changed_fields": ["title"], "old_values": {"title": "a"}, "new_values": {"title": "b"}}
    upload = {"filename": "a.pdf", "task_id": TASK, "file_size": 10, "content_type": None}
    want = [STORED_UPDATE | update, STORED_UPLOAD | upload]
    assert [e.details for e in (await timeline(fake, OWNER)).entries] == want
    assert [e.details for e in (await history(fake)).entries] == want[::-1]
    assert [e.details for e in (await timeline(fake, OWNER, page_size=1)).entries] == want[:1]
    assert [e.details for e, _ in fake.recorded()] == [STORED_UPDATE, STORED_UPLOAD]  # stored as they were
