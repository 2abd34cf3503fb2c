"""Notification preferences and email verification, through Envoy; the codes are read from the
local delivery log in the notify schema, as an operator would."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from support.accounts import Account, new_account
from support.errors import assert_bad_request, assert_status_body
from support.events import user_events
from support.notify import (
    mail_log,
    notify_preferences,
    notify_processed,
    notify_sql,
    set_notify_preferences,
    subscribe_and_read_code,
    subscribe_email,
    verify_email,
)
from support.polling import wait_until

DEFAULTS = {
    "email_verified": False,
    "email_enabled": True,
    "task_shared_with_me": True,
    "task_completed": True,
    "comment_on_my_task": True,
    "task_due_soon": False,
}


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# -- preferences ---------------------------------------------------------------------------
def test_a_new_account_has_the_default_preferences(http, account: Account) -> None:
    assert notify_preferences(http, account) == {"user_id": account.id, **DEFAULTS}  # no updated_at yet


def test_patch_sets_only_the_switches_given(http, account: Account) -> None:
    changed = set_notify_preferences(http, account, task_completed=False, task_due_soon=True)
    assert {k: v for k, v in changed.items() if k != "updated_at"} == {
        "user_id": account.id,
        **DEFAULTS,
        "task_completed": False,
        "task_due_soon": True,
    }
    assert changed["updated_at"].endswith("Z")
    again = set_notify_preferences(http, account, email_enabled=False)
    assert again["task_completed"] is False and again["task_due_soon"] is True  # kept
    assert again["email_enabled"] is False
    assert notify_preferences(http, account) == again


def test_null_leaves_a_switch_as_it_is(http, account: Account) -> None:
    response = http.patch(
        "/notifications/preferences",
        json={"task_completed": None, "comment_on_my_task": False},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["task_completed"] is True
    assert response.json()["comment_on_my_task"] is False


@pytest.mark.parametrize(
    "body, named",
    [
        pytest.param({"email_verified": True}, "email_verified", id="email_verified"),
        pytest.param({"email_verified": True, "task_completed": False}, "email_verified", id="with-a-switch"),
        pytest.param({"emailEnabled": False, "bogus": 1}, "bogus", id="unknown"),
        pytest.param({"user_id": 7}, "user_id", id="user_id"),
    ],
)
def test_email_verified_and_unknown_fields_cannot_be_set_through_patch(
    http, account: Account, body, named
) -> None:
    """Refused at the gateway, naming the field: the transcoder would drop it, and an empty patch
    is a 200 no-op, so the client would never learn that nothing was set."""
    response = http.patch("/notifications/preferences", json=body, headers=account.headers)
    assert_bad_request(response, named)
    assert notify_preferences(http, account) == {"user_id": account.id, **DEFAULTS}


@pytest.mark.parametrize(
    "body",
    [pytest.param({}, id="empty"), pytest.param({"task_completed": None}, id="only-null"), None],
    ids=["empty", "only-null", "no-body"],
)
def test_a_patch_that_sets_nothing_answers_the_preferences_and_changes_nothing(
    http, stack, account: Account, body
) -> None:
    """As the original: PATCH {} is a no-op, 200 with the current preferences; nothing is written,
    updated_at is not stamped (before any change, and after one)."""
    patch = {} if body is None else {"json": body}
    response = http.patch("/notifications/preferences", headers=account.headers, **patch)
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": account.id, **DEFAULTS}  # no updated_at: never changed
    changed = set_notify_preferences(http, account, task_completed=False)
    stored = notify_sql(stack, "SELECT * FROM preferences WHERE user_id = %s", [account.id])
    again = http.patch("/notifications/preferences", headers=account.headers, **patch)
    assert again.status_code == 200, again.text
    assert again.json() == changed == notify_preferences(http, account)  # updated_at not bumped
    assert notify_sql(stack, "SELECT * FROM preferences WHERE user_id = %s", [account.id]) == stored


def test_a_patch_that_sets_nothing_needs_a_token(http) -> None:
    assert_status_body(http.patch("/notifications/preferences", json={}), 401, 16)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"task_completed": "maybe"}, id="string"),
        pytest.param({"email_enabled": [True]}, id="list"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_invalid_patches_are_400_and_change_nothing(http, account: Account, body) -> None:
    response = http.patch("/notifications/preferences", json=body, headers=account.headers)
    assert_status_body(response, 400, 3)
    assert notify_preferences(http, account) == {"user_id": account.id, **DEFAULTS}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/notifications/preferences"),
        ("PATCH", "/notifications/preferences"),
        ("POST", "/notifications/subscribe"),
        ("POST", "/notifications/verify"),
    ],
)
def test_every_route_needs_a_token(http, method: str, path: str) -> None:
    assert_status_body(http.request(method, path, json={}), 401, 16)


# -- subscribe and verify --------------------------------------------------------------------
def test_subscribe_mails_a_code_that_is_stored_only_as_its_hmac(http, stack, account: Account) -> None:
    response = subscribe_email(http, account)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == account.email
    assert response.json()["message"]
    mail = wait_until(lambda: mail_log(stack, account.id), "the verification email")[-1]
    assert (mail["kind"], mail["email"]) == ("verification", account.email)
    code = mail["body"].split("verification code is ")[1][:6]
    assert code.isdigit() and code not in response.text
    assert code not in http.get("/notifications/preferences", headers=account.headers).text

    [stored] = notify_sql(stack, "SELECT * FROM verification_codes WHERE user_id = %s", (account.id,))
    key = stack.secrets["notify_code"].encode()
    assert (
        bytes(stored["code_digest"])
        == hmac.new(key, f"{account.id}:{code}".encode(), hashlib.sha256).digest()
    )
    assert 14 * 60 < (stored["expires_at"] - stored["created_at"]).total_seconds() <= 15 * 60
    # Once sent, the queued copy of the email no longer holds the code.
    [queued] = wait_until(
        lambda: notify_sql(
            stack, "SELECT * FROM deliveries WHERE user_id = %s AND status = 'sent'", (account.id,)
        ),
        "the verification email marked sent",
    )
    assert code not in queued["body"]


def test_a_wrong_code_is_400_and_changes_nothing_then_the_right_one_verifies(
    http, stack, account: Account
) -> None:
    code = subscribe_and_read_code(http, stack, account)
    assert_bad_request(verify_email(http, account, wrong(code)), "code")
    assert notify_preferences(http, account)["email_verified"] is False

    verified = verify_email(http, account, code)
    assert verified.status_code == 200, verified.text
    assert verified.json()["email"] == account.email
    prefs = notify_preferences(http, account)
    assert prefs["email_verified"] is True
    assert "updated_at" in prefs


def test_a_used_code_is_400(http, stack, account: Account) -> None:
    code = subscribe_and_read_code(http, stack, account)
    assert verify_email(http, account, code).status_code == 200
    assert_bad_request(verify_email(http, account, code), "code")
    assert notify_preferences(http, account)["email_verified"] is True


def test_an_expired_code_is_400_and_changes_nothing(http, stack, account: Account) -> None:
    code = subscribe_and_read_code(http, stack, account)
    notify_sql(
        stack,
        "UPDATE verification_codes SET expires_at = now() - interval '1 second' WHERE user_id = %s",
        (account.id,),
    )
    assert_bad_request(verify_email(http, account, code), "code")
    assert notify_preferences(http, account)["email_verified"] is False


def test_a_new_subscribe_replaces_the_previous_code(http, stack, account: Account) -> None:
    first = subscribe_and_read_code(http, stack, account)
    second = subscribe_and_read_code(http, stack, account)
    if first != second:  # one chance in a million that they are the same
        assert_bad_request(verify_email(http, account, first), "code")
    assert verify_email(http, account, second).status_code == 200


def test_no_code_sent_yet_is_400(http, account: Account) -> None:
    assert_bad_request(verify_email(http, account, "123456"), "code")


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", None], ids=repr)
def test_a_missing_or_malformed_code_is_400(http, stack, account: Account, code) -> None:
    real = subscribe_and_read_code(http, stack, account)
    body = {} if code is None else {"code": code}
    assert_bad_request(http.post("/notifications/verify", json=body, headers=account.headers), "code")
    assert verify_email(http, account, real).status_code == 200  # malformed ones cost no attempt


def test_spaces_and_dashes_in_a_code_are_forgiven(http, stack, account: Account) -> None:
    code = subscribe_and_read_code(http, stack, account)
    assert verify_email(http, account, f" {code[:3]}-{code[3:]} ").status_code == 200


def test_guessing_kills_the_code_and_then_the_user_is_rate_limited(http, stack, account: Account) -> None:
    code = subscribe_and_read_code(http, stack, account)
    for _ in range(5):  # NOTIFY's default: 5 wrong codes per code
        assert_bad_request(verify_email(http, account, wrong(code)), "code")
    assert_bad_request(verify_email(http, account, code), "code")  # the right one, too late
    assert notify_preferences(http, account)["email_verified"] is False
    for _ in range(4):  # 10 verify calls per user per 15 minutes
        assert verify_email(http, account, code).status_code == 400
    limited = verify_email(http, account, code)
    assert_status_body(limited, 429, 8)
    assert int(limited.headers["retry-after"]) > 0
    assert notify_preferences(http, account)["email_verified"] is False


def test_subscribing_is_rate_limited_per_user(http, stack) -> None:
    account = new_account(http)
    for _ in range(5):
        assert subscribe_email(http, account).status_code == 200
    limited = subscribe_email(http, account)
    assert_status_body(limited, 429, 8)
    assert int(limited.headers["retry-after"]) > 0
    other = new_account(http)
    assert subscribe_email(http, other).status_code == 200  # per user


def test_a_verified_address_is_not_sent_another_code(http, stack, account: Account) -> None:
    code = subscribe_and_read_code(http, stack, account)
    assert verify_email(http, account, code).status_code == 200
    before = len(mail_log(stack, account.id))
    response = subscribe_email(http, account)
    assert response.status_code == 200, response.text
    assert "already verified" in response.json()["message"]
    assert len(mail_log(stack, account.id)) == before
    assert notify_sql(stack, "SELECT count(*) AS n FROM deliveries WHERE user_id = %s", (account.id,)) == [
        {"n": 1}
    ]


def test_subscribe_works_before_notify_has_seen_the_registration(http, stack) -> None:
    """A user notify has no row for (user.registered not consumed yet): the email comes from the
    auth service's directory."""
    account = new_account(http)
    [registered] = user_events(stack.redis_url, account.id, until=lambda events: len(events) == 1)
    notify_processed(stack, [registered.event_id])  # so that the event cannot bring the rows back
    notify_sql(stack, "DELETE FROM users WHERE user_id = %s", (account.id,))
    notify_sql(stack, "DELETE FROM preferences WHERE user_id = %s", (account.id,))
    assert notify_preferences(http, account) == {"user_id": account.id, **DEFAULTS}
    code = subscribe_and_read_code(http, stack, account)
    assert verify_email(http, account, code).status_code == 200
    assert notify_sql(stack, "SELECT email FROM users WHERE user_id = %s", (account.id,)) == [
        {"email": account.email}
    ]
