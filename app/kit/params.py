from typing import Annotated

from fastapi import Path

# Ids in paths: a positive BIGINT; anything else is a 422 before it reaches the database.
IdPath = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)]
