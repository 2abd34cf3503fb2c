"""Use cases of the events notify consumes, in the consumer's transaction (the unit of work joins
it): what they queue exists once per (event, recipient), whatever the redeliveries."""

from __future__ import annotations

from tm_notify.domain.notifications import TaskNews, deliveries_of, notice_of, recipients
from tm_notify.domain.users import User
from tm_notify.service.unit_of_work import NotifyUnitOfWork


async def user_registered(uow: NotifyUnitOfWork, user: User) -> None:
    """Keep our copy of the account (a repeat updates it) and give it the default preferences."""
    async with uow:
        await uow.users.remember(user)
        await uow.users.create_defaults(user.user_id)
        await uow.commit()


async def task_news(uow: NotifyUnitOfWork, news: TaskNews) -> int:
    """Queue the emails of a change to those it concerns who want them (never its actor, only
    verified addresses, preferences as they stand now); how many were queued now."""
    notice = notice_of(news)
    if notice is None or not notice.candidates:
        return 0
    async with uow:
        chosen = recipients(notice, await uow.users.contacts(notice.candidates))
        queued = await uow.deliveries.enqueue(deliveries_of(news, chosen)) if chosen else 0
        await uow.commit()
    return queued
