from typing import Annotated

from fastapi import Path, Query

# The largest id a BIGINT (and SQLite's INTEGER) can hold: a bigger one is a 422, not a driver overflow.
MAX_ID = 9_223_372_036_854_775_807

# Ids in paths: a positive BIGINT; anything else is a 422 before it reaches the database.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
# Optional id filters in query strings, bounded the same way.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
