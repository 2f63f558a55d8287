"""Conversation memory per call (CallSid), in-process or shared through Redis, and per-caller rate limits."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

import redis.asyncio as redis


@dataclass
class CallSession:
    call_sid: str
    org_id: str
    # (role, text) pairs; role is "caller" or "agent".
    history: list[list[str]] = field(default_factory=list)
    turns: int = 0
    empty_recordings: int = 0
    started_at: float = field(default_factory=time.time)
    # What the inbound webhook answered: a retried inbound for the call gets exactly this again.
    inbound_twiml: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CallSession:
        return cls(**json.loads(raw))


class SessionStore(Protocol):
    async def get(self, call_sid: str) -> CallSession | None: ...

    async def put(self, session: CallSession) -> None: ...

    async def create(self, session: CallSession) -> bool:
        """Store a new call's session unless the call already has one; False when it had."""
        ...

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        """Take `key` for `ttl_seconds` (a single-use token): True for the first taker only."""
        ...

    async def update(self, session: CallSession) -> None:
        """Write back only if the call is still open: a status callback may have ended it meanwhile."""
        ...

    async def delete(self, call_sid: str) -> CallSession | None: ...

    async def count(self, key: str, window_seconds: int) -> int:
        """Increment and return a counter that expires with its window."""
        ...


class MemorySessionStore:
    """One gateway replica's memory; sessions and counters expire like Redis keys would."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._sessions: dict[str, tuple[float, str]] = {}
        self._counters: dict[str, tuple[float, int]] = {}
        self._claims: dict[str, float] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        self._sessions = {k: v for k, v in self._sessions.items() if v[0] > now}
        self._counters = {k: v for k, v in self._counters.items() if v[0] > now}
        self._claims = {k: v for k, v in self._claims.items() if v > now}

    async def get(self, call_sid: str) -> CallSession | None:
        self._expire()
        entry = self._sessions.get(call_sid)
        return CallSession.from_json(entry[1]) if entry else None

    async def put(self, session: CallSession) -> None:
        self._sessions[session.call_sid] = (time.monotonic() + self.ttl_seconds, session.to_json())

    async def create(self, session: CallSession) -> bool:
        if await self.get(session.call_sid) is not None:
            return False
        await self.put(session)
        return True

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        self._expire()
        if key in self._claims:
            return False
        self._claims[key] = time.monotonic() + ttl_seconds
        return True

    async def update(self, session: CallSession) -> None:
        if await self.get(session.call_sid) is not None:
            await self.put(session)

    async def delete(self, call_sid: str) -> CallSession | None:
        entry = self._sessions.pop(call_sid, None)
        return CallSession.from_json(entry[1]) if entry else None

    async def count(self, key: str, window_seconds: int) -> int:
        self._expire()
        expires, value = self._counters.get(key, (time.monotonic() + window_seconds, 0))
        self._counters[key] = (expires, value + 1)
        return value + 1


class RedisSessionStore:
    """Shared by every gateway replica, so any replica can take any webhook of a call."""

    def __init__(self, url: str, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._redis = redis.from_url(url)

    async def get(self, call_sid: str) -> CallSession | None:
        raw = await self._redis.get(f"voiceagent:session:{call_sid}")
        return CallSession.from_json(raw) if raw else None

    async def put(self, session: CallSession) -> None:
        await self._redis.set(f"voiceagent:session:{session.call_sid}", session.to_json(), ex=self.ttl_seconds)

    async def create(self, session: CallSession) -> bool:
        key = f"voiceagent:session:{session.call_sid}"
        return bool(await self._redis.set(key, session.to_json(), ex=self.ttl_seconds, nx=True))

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self._redis.set(f"voiceagent:claim:{key}", b"1", ex=ttl_seconds, nx=True))

    async def update(self, session: CallSession) -> None:
        await self._redis.set(f"voiceagent:session:{session.call_sid}", session.to_json(), ex=self.ttl_seconds, xx=True)

    async def delete(self, call_sid: str) -> CallSession | None:
        raw = await self._redis.getdel(f"voiceagent:session:{call_sid}")
        return CallSession.from_json(raw) if raw else None

    async def count(self, key: str, window_seconds: int) -> int:
        name = f"voiceagent:rate:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            value, _ = await pipe.incr(name).expire(name, window_seconds, nx=True).execute()
        return int(value)


class RateLimiter:
    """Fixed-window counts of calls and turns per caller; numbers are hashed, never stored."""

    def __init__(self, store: SessionStore, window_seconds: int) -> None:
        self.store = store
        self.window_seconds = window_seconds

    async def allow(self, kind: str, caller: str, limit: int) -> bool:
        window = int(time.time() // self.window_seconds)
        caller_key = hashlib.sha256(caller.encode()).hexdigest()[:24]
        return await self.store.count(f"{kind}:{caller_key}:{window}", self.window_seconds) <= limit
