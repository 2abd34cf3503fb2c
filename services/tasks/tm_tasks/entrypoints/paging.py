"""Page tokens of the simple lists (shared with me, comments): the last id seen, encoded."""

from __future__ import annotations

import base64
import binascii

from tm_common.errors import InvalidArgument


def after_id(page_token: str) -> int:
    if not page_token:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)).decode())
    except (ValueError, binascii.Error):
        value = -1
    if not 0 <= value <= 2**31 - 1:
        raise InvalidArgument.for_field("page_token", "is not a page token of this service")
    return value


def token(last_id: int) -> str:
    """ "" when there is no next page."""
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=") if last_id else ""
