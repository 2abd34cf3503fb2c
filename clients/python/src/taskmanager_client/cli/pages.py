"""Lists the server pages (page_token in, next_page_token out), read to the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def every_page(call: Callable[[Any], Any], request: Any, field: str) -> list[Any]:
    """Every item of `field` over all pages of `call(request)` (request.page_token is advanced)."""
    items: list[Any] = []
    while True:
        reply = call(request)
        items += getattr(reply, field)
        if not reply.next_page_token:
            return items
        request.page_token = reply.next_page_token
