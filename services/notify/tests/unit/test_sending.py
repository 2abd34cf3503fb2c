"""Retry timing of failed emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tm_notify.domain.sending import RetryPolicy, backoff, expired, gives_up

POLICY = RetryPolicy(max_attempts=8, base_seconds=2.0, max_seconds=600.0)


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [backoff(POLICY, n) for n in range(1, 11)] == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600]
    assert backoff(POLICY, 10_000) == 600


def test_an_email_is_given_up_after_max_attempts() -> None:
    assert not gives_up(POLICY, 7)
    assert gives_up(POLICY, 8)


def test_only_mails_with_an_expiry_expire() -> None:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert not expired(None, now)
    assert not expired(now + timedelta(seconds=1), now)
    assert expired(now, now)
