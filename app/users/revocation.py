"""Revoking access tokens before they expire: a per-user token version, checked on every authenticated call.

Each access token carries `ver`, the user's `token_version` when it was issued. Logout, logout-all, a
password change, disabling the account and changing its role raise the version (`revoke_tokens`), and from
the commit on every token carrying an older one is refused.

Routes that load the User row (`current_user`) compare with the row itself, and so does checkout's fast path
(app.checkout.fast_path): it checks the token against the customer's row that checkout locks anyway, in the
same round trip (app.checkout.pipeline.CallerCheck), so it sees a revocation from its commit on. The calls
that only need who is calling (`current_principal`) read the user's *auth state* (role, version, active)
from a cache, so they cost no database round trip:

- with Redis: one GET of `daoxiang:auth:<user id>` (kept AUTH_STATE_CACHE_SECONDS). A change writes the new
  state there right after its commit. Writes go through a small script that never replaces a newer version
  by an older one, so a reader that filled the cache from a read taken just before the change, or two
  changes finishing in either order, cannot bring a revoked version back.
- without Redis (or while it is down): each process keeps the state AUTH_STATE_LOCAL_CACHE_SECONDS; the
  process that made the change drops it at once, other processes see it within that time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.config import get_settings
from app.db import after_commit
from app.redis import RedisError, get_redis
from app.users import repository
from app.users.models import User

log = logging.getLogger(__name__)
_PREFIX = "daoxiang:auth:"
_LOCAL_MAX = 50_000


@dataclass(frozen=True, slots=True)
class AuthState:
    role: str
    token_version: int
    is_active: bool

    def encode(self) -> bytes:
        return f"{self.token_version}:{int(self.is_active)}:{self.role}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> AuthState | None:
        try:
            version, active, role = raw.decode().split(":", 2)
            return cls(role=role, token_version=int(version), is_active=active == "1")
        except (UnicodeDecodeError, ValueError):
            return None


def accepts(state: AuthState | None, claims: dict[str, Any]) -> bool:
    """Whether a verified access token still stands: its user is active and its version is current."""
    return state is not None and state.is_active and claims["ver"] == state.token_version


# Store the state unless the cached one is newer (a higher version).
_STORE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+):'))
  if version and version > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

_local: dict[int, tuple[float, AuthState | None]] = {}


def clear_local() -> None:
    _local.clear()


async def _store(user_id: int, state: AuthState) -> None:
    client = get_redis()
    if client is None:
        return
    ttl = max(1, int(get_settings().auth_state_cache_seconds))
    await client.eval(_STORE_IF_NEWER, 1, _PREFIX + str(user_id), state.token_version, state.encode(), ttl)


async def state(session: AsyncSession, user_id: int) -> AuthState | None:
    """The user's current auth state (None: no such user), from the cache when it has it."""
    client = get_redis()
    if client is not None:
        try:
            raw = await client.get(_PREFIX + str(user_id))
            cached = AuthState.decode(raw) if raw is not None else None
            if cached is not None:
                return cached
            fresh = await _load(session, user_id)
            if fresh is not None:
                await _store(user_id, fresh)
            return fresh
        except (RedisError, OSError):
            log.warning("redis unavailable for the auth state; reading the database")
            return await _load(session, user_id)
    ttl = get_settings().auth_state_local_cache_seconds
    now = time.monotonic()
    hit = _local.get(user_id)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    fresh = await _load(session, user_id)
    if ttl > 0:
        if len(_local) >= _LOCAL_MAX:
            _local.clear()
        _local[user_id] = (now, fresh)
    return fresh


async def _load(session: AsyncSession, user_id: int) -> AuthState | None:
    row = await repository.auth_state(session, user_id)
    if row is None:
        return None
    role, version, active = row
    return AuthState(role=role, token_version=int(version), is_active=bool(active))


async def revoke_tokens(session: AsyncSession, user: User) -> None:
    """Raise the user's token version in the caller's transaction: once it commits, every access token
    issued before stops working (tokens issued later in the same request carry the new version)."""
    set_committed_value(user, "token_version", await repository.bump_token_version(session, user.id))
    publish_after_commit(session, user)


def publish_after_commit(session: AsyncSession, user: User) -> None:
    """Once the transaction commits, replace the cached auth state with the user's committed one."""
    user_id = user.id

    async def publish() -> None:
        _local.pop(user_id, None)
        committed = AuthState(role=user.role, token_version=user.token_version, is_active=user.is_active)
        try:
            await _store(user_id, committed)
        except (RedisError, OSError):
            log.warning("redis unavailable; user %s's cached auth state expires on its own", user_id)

    after_commit(session, f"auth-state:{user_id}", publish)
