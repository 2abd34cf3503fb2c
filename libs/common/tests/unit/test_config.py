import pytest

from tm_common.config import ServiceSettings


def test_service_addresses_parse() -> None:
    settings = ServiceSettings(service_addresses="auth=127.0.0.1:1, tasks = 10.0.0.2:50052 ,")
    assert settings.peers() == {"auth": "127.0.0.1:1", "tasks": "10.0.0.2:50052"}


def test_malformed_service_address_is_an_error() -> None:
    with pytest.raises(ValueError, match="name=host:port"):
        ServiceSettings(service_addresses="auth").peers()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_PORT", "6000")
    monkeypatch.setenv("ENVIRONMENT", "staging")
    settings = ServiceSettings()
    assert (settings.grpc_port, settings.environment) == (6000, "staging")
