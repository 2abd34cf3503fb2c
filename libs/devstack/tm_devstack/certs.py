"""The local stack's service identities: a CA and one certificate per service, for the gateway and
for the tests, in DATA_DIR/secrets/tls (flat: ca.crt, <name>.crt, <name>.key) and reused while
valid. The issuing is tm_common.certs', which compose's one-shot `certs` runs too."""

from __future__ import annotations

from tm_common.certs import CA_NAME, RENEW_BEFORE, VALID_DAYS, Identity, ensure

GATEWAY = "gateway"
TEST_CLIENT = "test-client"

__all__ = ["CA_NAME", "GATEWAY", "RENEW_BEFORE", "TEST_CLIENT", "VALID_DAYS", "Identity", "ensure"]
