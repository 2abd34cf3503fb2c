"""Tables of the notify schema. Unqualified: the connection's search_path selects the schema."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
