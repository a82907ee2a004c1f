"""Where live presence is kept: per user, each device's status and when it expires, the last
announced status (transitions are announced once) and when ``last_seen`` was last written to
the database. Redis (``RedisPresence``, shared by every replica, each step one atomic script)
or one process's memory (``MemoryPresence``, the embedded default). Times are epoch
milliseconds."""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

RETRY_DEVICE = "~retry"
"""A device id clients cannot use (the schema allows no ``~``): an expiry entry that makes the
sweeper look at a user again."""
RANK = {"offline": 0, "away": 1, "online": 2, "busy": 3}
"""A user's status is their devices' highest: online while any device is (busy wins, as the
user chose it)."""


@dataclass(frozen=True, slots=True)
class BeatOutcome:
    old: str
    new: str
    devices: int
    write_due: bool


@dataclass(frozen=True, slots=True)
class LiveState:
    status: str
    devices: int
    last_seen_ms: int | None


class PresenceStore(Protocol):
    async def beat(
        self,
        user_id: uuid.UUID,
        device_id: str,
        status: str,
        *,
        now_ms: int,
        seen_ms: int,
        ttl_ms: int,
        write_every_ms: int,
    ) -> BeatOutcome: ...

    async def states(self, user_ids: list[uuid.UUID], now_ms: int) -> dict[uuid.UUID, LiveState]:
        """Live state of each user who has any (others: offline, last_seen from the database)."""
        ...

    async def expire(self, now_ms: int, limit: int) -> list[tuple[uuid.UUID, int, str]]:
        """Users whose last device expired and who were not yet announced offline, with their
        last_seen and the status announced before; each is returned once, to one caller (and
        is now announced offline)."""
        ...

    async def unannounce(
        self, user_id: uuid.UUID, announced: str, previous: str, retry_at_ms: int | None
    ) -> None:
        """The transition to ``announced`` was not recorded (its transaction failed): if it is
        still the announced status, go back to ``previous`` so that it is announced again (by
        the next heartbeat, or by the sweeper at ``retry_at_ms``)."""
        ...

    async def forget(self, user_id: uuid.UUID) -> None: ...

    async def close(self) -> None: ...


def _status(devices: dict[str, tuple[str, int]], now_ms: int) -> tuple[str, int]:
    live = [status for status, expires in devices.values() if expires > now_ms]
    return max(live, key=RANK.__getitem__, default="offline"), len(live)


@dataclass
class _User:
    devices: dict[str, tuple[str, int]] = field(default_factory=dict)
    announced: str = "offline"
    seen_ms: int = 0
    written_ms: int = 0


class MemoryPresence:
    def __init__(self) -> None:
        self._users: dict[uuid.UUID, _User] = {}
        self._expiry: list[tuple[int, uuid.UUID, str]] = []

    async def beat(
        self,
        user_id: uuid.UUID,
        device_id: str,
        status: str,
        *,
        now_ms: int,
        seen_ms: int,
        ttl_ms: int,
        write_every_ms: int,
    ) -> BeatOutcome:
        user = self._users.setdefault(user_id, _User())
        old = user.announced
        if status == "offline":
            user.devices.pop(device_id, None)
        else:
            user.devices[device_id] = (status, now_ms + ttl_ms)
            heapq.heappush(self._expiry, (now_ms + ttl_ms, user_id, device_id))
        new, count = _status(user.devices, now_ms)
        user.announced = new
        user.seen_ms = max(user.seen_ms, seen_ms)
        due = (new == "offline" and old != "offline") or now_ms - user.written_ms >= write_every_ms
        if due:
            user.written_ms = now_ms
        return BeatOutcome(old, new, count, due)

    async def states(self, user_ids: list[uuid.UUID], now_ms: int) -> dict[uuid.UUID, LiveState]:
        found = {}
        for user_id in user_ids:
            user = self._users.get(user_id)
            if user is not None:
                status, count = _status(user.devices, now_ms)
                found[user_id] = LiveState(status, count, user.seen_ms or None)
        return found

    async def expire(self, now_ms: int, limit: int) -> list[tuple[uuid.UUID, int, str]]:
        gone: list[tuple[uuid.UUID, int, str]] = []
        while self._expiry and self._expiry[0][0] <= now_ms and len(gone) < limit:
            _, user_id, device_id = heapq.heappop(self._expiry)
            user = self._users.get(user_id)
            if user is None:
                continue
            entry = user.devices.get(device_id)
            if entry is not None and entry[1] <= now_ms:
                del user.devices[device_id]
            if _status(user.devices, now_ms)[0] == "offline" and user.announced != "offline":
                gone.append((user_id, user.seen_ms or now_ms, user.announced))
                user.announced = "offline"
                user.written_ms = now_ms
        return gone

    async def unannounce(
        self, user_id: uuid.UUID, announced: str, previous: str, retry_at_ms: int | None
    ) -> None:
        user = self._users.get(user_id)
        if user is None or user.announced != announced:
            return
        user.announced = previous
        if retry_at_ms is not None:
            heapq.heappush(self._expiry, (retry_at_ms, user_id, RETRY_DEVICE))

    async def forget(self, user_id: uuid.UUID) -> None:
        self._users.pop(user_id, None)

    async def close(self) -> None:
        self._users.clear()


_LIVE = """
local RANK = {offline = 0, away = 1, online = 2, busy = 3}
local function live(key, now)
  local entries = redis.call('HGETALL', key)
  local best, rank, count = 'offline', 0, 0
  for i = 1, #entries, 2 do
    local status, expires = string.match(entries[i + 1], '^(%a+):(%d+)$')
    if tonumber(expires) > now then
      count = count + 1
      if RANK[status] > rank then best, rank = status, RANK[status] end
    end
  end
  return best, count
end
"""
_BEAT = (
    _LIVE
    + """
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[6])
local old = redis.call('HGET', KEYS[2], 'announced') or 'offline'
local member = ARGV[1] .. ':' .. ARGV[2]
if ARGV[3] == 'offline' then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[3], member)
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ':' .. string.format('%.0f', now + ttl))
  redis.call('PEXPIRE', KEYS[1], ttl * 4)
  redis.call('ZADD', KEYS[3], now + ttl, member)
end
local new, count = live(KEYS[1], now)
local seen = math.max(tonumber(redis.call('HGET', KEYS[2], 'seen') or '0'), tonumber(ARGV[5]))
local written = tonumber(redis.call('HGET', KEYS[2], 'written') or '0')
local due = 0
if (new == 'offline' and old ~= 'offline') or now - written >= tonumber(ARGV[7]) then
  due = 1
  written = now
end
redis.call('HSET', KEYS[2], 'announced', new, 'seen', string.format('%.0f', seen),
  'written', string.format('%.0f', written))
redis.call('PEXPIRE', KEYS[2], 7 * 86400000)
return {old, new, count, due}
"""
)
_STATES = (
    _LIVE
    + """
local now, result = tonumber(ARGV[1]), {}
for i = 1, #KEYS, 2 do
  local status, count = live(KEYS[i], now)
  local seen = redis.call('HGET', KEYS[i + 1], 'seen') or ''
  table.insert(result, status)
  table.insert(result, count)
  table.insert(result, seen)
end
return result
"""
)
_UNANNOUNCE = """
if (redis.call('HGET', KEYS[1], 'announced') or 'offline') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'announced', ARGV[2])
  if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
end
return 1
"""
_EXPIRE = (
    _LIVE
    + """
local now, prefix, gone, done = tonumber(ARGV[1]), ARGV[3], {}, {}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
for _, member in ipairs(members) do
  redis.call('ZREM', KEYS[1], member)
  local user, device = string.match(member, '^(%x+):(.+)$')
  local devices, meta = prefix .. 'd:' .. user, prefix .. 'm:' .. user
  local entry = redis.call('HGET', devices, device)
  if entry then
    local expires = tonumber(string.match(entry, ':(%d+)$'))
    if expires <= now then redis.call('HDEL', devices, device) end
  end
  if not done[user] and live(devices, now) == 'offline'
      and (redis.call('HGET', meta, 'announced') or 'offline') ~= 'offline' then
    done[user] = true
    local previous = redis.call('HGET', meta, 'announced')
    redis.call('HSET', meta, 'announced', 'offline', 'written', string.format('%.0f', now))
    table.insert(gone, user)
    table.insert(gone, redis.call('HGET', meta, 'seen') or string.format('%.0f', now))
    table.insert(gone, previous)
  end
end
return gone
"""
)


class RedisPresence:
    def __init__(self, url: str, prefix: str, timeout_seconds: float) -> None:
        self.redis = Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self.prefix = f"{prefix}presence:"
        self._beat = self.redis.register_script(_BEAT)
        self._states = self.redis.register_script(_STATES)
        self._expire = self.redis.register_script(_EXPIRE)
        self._unannounce = self.redis.register_script(_UNANNOUNCE)

    def _keys(self, user_id: uuid.UUID) -> tuple[str, str]:
        return f"{self.prefix}d:{user_id.hex}", f"{self.prefix}m:{user_id.hex}"

    async def beat(
        self,
        user_id: uuid.UUID,
        device_id: str,
        status: str,
        *,
        now_ms: int,
        seen_ms: int,
        ttl_ms: int,
        write_every_ms: int,
    ) -> BeatOutcome:
        devices, meta = self._keys(user_id)
        old, new, count, due = await self._beat(
            keys=[devices, meta, self.prefix + "expiry"],
            args=[user_id.hex, device_id, status, now_ms, seen_ms, ttl_ms, write_every_ms],
        )
        return BeatOutcome(old.decode(), new.decode(), int(count), bool(due))

    async def states(self, user_ids: list[uuid.UUID], now_ms: int) -> dict[uuid.UUID, LiveState]:
        if not user_ids:
            return {}
        keys = [key for user_id in user_ids for key in self._keys(user_id)]
        flat = await self._states(keys=keys, args=[now_ms])
        found = {}
        for index, user_id in enumerate(user_ids):
            status, count, seen = flat[3 * index : 3 * index + 3]
            if seen:
                found[user_id] = LiveState(status.decode(), int(count), int(seen))
        return found

    async def expire(self, now_ms: int, limit: int) -> list[tuple[uuid.UUID, int, str]]:
        flat = await self._expire(keys=[self.prefix + "expiry"], args=[now_ms, limit, self.prefix])
        return [
            (uuid.UUID(hex=flat[i].decode()), int(flat[i + 1]), flat[i + 2].decode())
            for i in range(0, len(flat), 3)
        ]

    async def unannounce(
        self, user_id: uuid.UUID, announced: str, previous: str, retry_at_ms: int | None
    ) -> None:
        _, meta = self._keys(user_id)
        member = f"{user_id.hex}:{RETRY_DEVICE}"
        retry = "" if retry_at_ms is None else str(retry_at_ms)
        await self._unannounce(
            keys=[meta, self.prefix + "expiry"], args=[announced, previous, member, retry]
        )

    async def forget(self, user_id: uuid.UUID) -> None:
        await self.redis.delete(*self._keys(user_id))

    async def close(self) -> None:
        await self.redis.aclose()
