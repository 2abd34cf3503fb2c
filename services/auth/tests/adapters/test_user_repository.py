"""The auth service's SQL adapters against a real Postgres (no stack): users by id, by name in any
case and in batches, the unique indexes behind AlreadyExists, the password-hash update, and a
registration written with its outbox row in one transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_auth.adapters import events
from tm_auth.adapters.unit_of_work import SqlAuthUnitOfWork
from tm_auth.domain.accounts import User
from tm_auth.service import accounts
from tm_common.db import Database
from tm_common.errors import AlreadyExists
from tm_common.uow import UnitsOfWork


async def add(db: Database, username: str, email: str | None = None, password_hash: str = "h1") -> User:
    async with UnitsOfWork(SqlAuthUnitOfWork, db)() as uow:
        user = await uow.users.add(username, email or f"{username.lower()}@example.com", password_hash)
        await uow.commit()
    return user


async def count(db: Database, table: str) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_user_is_found_by_id_and_by_name_in_any_case(db: Database) -> None:
    alice = await add(db, "Alice", "alice@example.com")
    assert alice.id > 0 and (alice.username, alice.email) == ("Alice", "alice@example.com")
    assert alice.created_at.tzinfo is not None
    async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
        assert await uow.users.get(alice.id) == alice
        assert await uow.users.get(alice.id + 1) is None
        assert await uow.users.by_username("aLICE") == alice
        assert await uow.users.by_username("bob") is None
        assert await uow.users.credentials("ALICE") == (alice, "h1")
        assert await uow.users.credentials("bob") is None


async def test_taken_names_the_username_before_the_email_in_any_case(db: Database) -> None:
    await add(db, "Alice", "alice@example.com")
    async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
        assert await uow.users.taken("ALICE", "other@example.com") == "username"
        assert await uow.users.taken("other", "ALICE@EXAMPLE.COM") == "email"
        assert await uow.users.taken("alice", "alice@example.com") == "username"
        assert await uow.users.taken("other", "other@example.com") is None


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [("ALICE", "other@example.com", "username"), ("other", "Alice@Example.com", "email")],
)
async def test_the_unique_indexes_refuse_a_second_user_of_a_name_or_email(db, username, email, field) -> None:
    """What a registration that lost a race meets: AlreadyExists naming the field, nothing kept."""
    alice = await add(db, "alice", "alice@example.com")
    with pytest.raises(AlreadyExists, match=f"{field} is already registered"):
        async with UnitsOfWork(SqlAuthUnitOfWork, db)() as uow:
            await uow.users.add(username, email, "h2")
            await uow.commit()
    async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
        assert await uow.users.get_many([alice.id, alice.id + 1]) == [alice]


async def test_get_many_returns_the_users_that_exist(db: Database) -> None:
    ann, bob, _ = await add(db, "ann"), await add(db, "bob"), await add(db, "cid")
    async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
        found = await uow.users.get_many([bob.id, 999_999, ann.id, bob.id])
        assert sorted(found, key=lambda u: u.id) == [ann, bob]
        assert await uow.users.get_many([]) == []


async def test_the_password_hash_is_replaced_in_a_transaction(db: Database) -> None:
    alice = await add(db, "alice")
    async with UnitsOfWork(SqlAuthUnitOfWork, db)() as uow:
        await uow.users.set_password_hash(alice.id, "h2")
        await uow.commit()
    async with UnitsOfWork(SqlAuthUnitOfWork, db)() as uow:
        await uow.users.set_password_hash(alice.id, "h3")  # never committed
    async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
        assert await uow.users.credentials("alice") == (alice, "h2")


async def test_a_registration_writes_its_user_and_its_event_in_one_transaction(db: Database, fake) -> None:
    fake.deps.uow = UnitsOfWork(SqlAuthUnitOfWork, db)
    user = await accounts.register(fake.deps, "alice", "Alice@Example.com", "correct horse")
    async with db.read() as conn:
        users = (await conn.execute(text("SELECT id, xmin::text AS tx FROM users"))).all()
        outbox = (await conn.execute(text("SELECT xmin::text AS tx, event_type, payload FROM outbox"))).all()
    assert [row.id for row in users] == [user.id]
    [row] = outbox
    assert (row.event_type, row.tx) == ("user.registered", users[0].tx)  # the same transaction
    event = EventEnvelope.FromString(row.payload)
    assert (event.user_registered.user_id, event.user_registered.email) == (user.id, "alice@example.com")
    with pytest.raises(AlreadyExists, match="email"):
        await accounts.register(fake.deps, "bob", "ALICE@example.com", "correct horse")
    assert (await count(db, "users"), await count(db, "outbox")) == (1, 1)
    # Refused by the check before the insert: no id spent, no error in the server's log.
    assert (await accounts.register(fake.deps, "cid", "cid@example.com", "correct horse")).id == user.id + 1
    async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
        assert await fake.hasher.verify((await uow.users.credentials("alice"))[1], "correct horse")


async def test_leaving_without_commit_rolls_back_the_user_and_its_event(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with UnitsOfWork(SqlAuthUnitOfWork, db)() as uow:
            user = await uow.users.add("alice", "alice@example.com", "h1")
            uow.publish(events.user_registered(user))
            raise RuntimeError("refused after the insert")
    assert (await count(db, "users"), await count(db, "outbox")) == (0, 0)


async def test_a_read_only_unit_of_work_cannot_commit(db: Database) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        async with UnitsOfWork(SqlAuthUnitOfWork, db)(read_only=True) as uow:
            await uow.commit()
