"""Health, version, and the gateway's own limits and error shapes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from support.errors import assert_status_body
from support.polling import wait_until


def test_health_reports_every_service_and_dependency(http) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["redis"]) == ("ok", "healthy", "healthy")
    assert body["services"]["auth"] == {
        "status": "ok",
        "dependencies": {"database": "healthy", "redis": "healthy"},
    }
    assert body["down"] == []


def test_version_names_version_and_environment(http, stack) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.json() == {"version": stack.config.version, "environment": "test"}


def test_health_is_503_naming_a_dependency_that_is_down(http, stack) -> None:
    stack.stop_program("redis")
    try:
        response = http.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["redis"] == "unhealthy"
        assert "auth.redis" in body["down"]
        assert body["services"]["auth"]["dependencies"]["database"] == "healthy"
    finally:
        stack.start_program("redis")
    wait_until(lambda: http.get("/health").status_code == 200, "health to recover after redis", 15, every=0.2)


def test_edge_rate_limit_answers_429_json(stack) -> None:
    time.sleep(1.1)  # a full bucket to start from

    def get(_: int) -> httpx.Response:
        return httpx.get(f"{stack.gateway_url}/version", timeout=5)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(get, range(60)))
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "60 quick requests against a bucket of 10/s were all let through"
    assert limited[0].headers["retry-after"] == "1"
    assert_status_body(limited[0], 429, 8)
    assert any(r.status_code == 200 for r in responses)
    time.sleep(1.1)  # leave a full bucket for the tests after this one


def test_envoy_generates_a_request_id_that_the_service_logs(http, stack) -> None:
    # Failures are logged by the service (successes only at DEBUG; Envoy logs every request).
    response = http.post(
        "/auth/login",
        json={"username": "nobody-here", "password": "wrong password"},
        headers={"x-request-id": "forged-by-client"},
    )
    assert response.status_code == 401
    request_id = response.headers["x-request-id"]
    assert request_id and request_id != "forged-by-client"
    wait_until(
        lambda: f'"request_id": "{request_id}"' in (stack.log_dir / "auth.log").read_text(),
        "the service to log the gateway's request id",
        5,
    )


def test_health_is_503_naming_a_service_that_is_down(http, stack) -> None:
    stack.stop_program("auth")
    try:
        response = http.get("/health")  # answered by another service
        assert response.status_code == 503
        body = response.json()
        assert "auth" in body["down"]
        assert body["services"]["auth"]["status"] == "down"
        assert body["services"]["tasks"]["status"] == "ok"
    finally:
        stack.start_program("auth")
    wait_until(lambda: http.get("/health").status_code == 200, "health to recover after auth", 20, every=0.2)
