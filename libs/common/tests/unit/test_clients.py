from tm_common.clients import propagated_metadata
from tm_common.context import Principal, principal_var, request_id_var


def test_request_id_and_token_are_added() -> None:
    request_id_var.set("req-1")
    principal_var.set(Principal(user_id=3, username="c", token="tok", expires_at=0))
    metadata = propagated_metadata([("x-other", "v")])
    assert metadata["x-request-id"] == "req-1"
    assert metadata["authorization"] == "Bearer tok"
    assert metadata["x-other"] == "v"


def test_explicit_values_win() -> None:
    request_id_var.set("req-1")
    principal_var.set(Principal(user_id=3, username="c", token="tok", expires_at=0))
    metadata = propagated_metadata([("authorization", "Bearer service"), ("x-request-id", "mine")])
    assert metadata["authorization"] == "Bearer service"
    assert metadata["x-request-id"] == "mine"


def test_nothing_is_invented_outside_a_request() -> None:
    request_id_var.set(None)
    principal_var.set(None)
    assert list(propagated_metadata(None)) == []
