"""SERVICE_ADDRESSES naming several instances of a service (the local stack's REPLICAS)."""

import pytest

from tm_common.config import ServiceSettings


def test_an_address_may_list_several_instances() -> None:
    addresses = "auth=ipv4:127.0.0.1:1,127.0.0.1:2,tasks=127.0.0.1:3,files=ipv4:127.0.0.1:4"
    assert ServiceSettings(service_addresses=addresses).peers() == {
        "auth": "ipv4:127.0.0.1:1,127.0.0.1:2",
        "tasks": "127.0.0.1:3",
        "files": "ipv4:127.0.0.1:4",
    }


def test_only_a_list_of_addresses_continues_over_a_comma() -> None:
    with pytest.raises(ValueError, match="name=host:port"):
        ServiceSettings(service_addresses="auth=127.0.0.1:1,127.0.0.1:2").peers()
