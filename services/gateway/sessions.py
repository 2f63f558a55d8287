"""Conversation memory per call (CallSid), in-process or shared through Redis, and per-caller rate limits."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol, TypeVar

import redis.asyncio as redis
from redis import exceptions as redis_errors

from services.common.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")
# After Redis failed, this long on the replica's memory before Redis is tried again.
REDIS_RETRY_SECONDS = 1.0


class _Unavailable:
    """What a Redis command gives while Redis cannot be reached."""


UNAVAILABLE = _Unavailable()


@dataclass
class CallSession:
    call_sid: str
    org_id: str
    # (role, text) pairs; role is "caller" or "agent".
    history: list[list[str]] = field(default_factory=list)
    turns: int = 0
    empty_recordings: int = 0
    # Silence since the caller last spoke (turn-based calls count recording timeouts), and whether they were
    # asked if they are still there.
    silent_seconds: float = 0.0
    idle_prompted: bool = False
    # Turns written to the call store (their index), counting fallbacks as well as answers.
    recorded_turns: int = 0
    # The message being taken for a callback (services/gateway/callbacks.py); empty when none is.
    message: dict = field(default_factory=dict)
    # The agent needed help on this call (a fallback, a handoff or a callback): it was not contained.
    needed_help: bool = False
    # Estimated cost so far, by "stage:provider" (stt:openai, llm:local, ...), from the services' usage reports.
    cost_usd: dict[str, float] = field(default_factory=dict)
    # How the agent ended the call ("no_input", "caller_done", ...), for the call store; empty until it does.
    outcome: str = ""
    started_at: float = field(default_factory=time.time)
    # The caller ID as Twilio gave it: the number offered for a callback.
    caller: str = ""
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
    """Shared by every gateway replica, so any replica can take any webhook of a call.

    Redis going away must not take calls with it (every webhook reads the session: a Redis error was an
    unhandled exception, and the caller heard "trouble" and a hang-up). While Redis cannot be reached, this
    replica keeps serving from its own memory: calls go on, rate limits count locally, a stream token is
    single-use on this replica; Redis is tried again a second later. A session written during the outage is
    read from memory first (it is newer than Redis's copy) and moved back to Redis by its next write. What a
    call loses is what only Redis held while it was away: the conversation so far of a call whose turn was
    taken during the outage (that turn is answered without it)."""

    def __init__(self, url: str, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        # A Redis that hangs (rather than refusing connections) costs a turn half a second, not forever.
        self._redis = redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5)
        self._local = MemorySessionStore(ttl_seconds)
        self._retry_at = 0.0
        self._down = False

    async def _shared(self, command: Callable[[], Awaitable[T]]) -> T | _Unavailable:
        """`command` against Redis, or UNAVAILABLE while Redis cannot be reached. A connection broken by a Redis
        restart fails once, so a connection error is retried once (on a new connection) before it counts."""
        if time.monotonic() < self._retry_at:
            return UNAVAILABLE
        for attempt in range(2):
            try:
                result = await command()
            except redis_errors.RedisError as error:  # unreachable, timing out, or refusing us (protected mode, auth)
                if attempt == 0 and isinstance(error, redis_errors.ConnectionError):
                    continue
                if not self._down:
                    log.warning("sessions.redis_unavailable", error=type(error).__name__, fallback="memory")
                self._down, self._retry_at = True, time.monotonic() + REDIS_RETRY_SECONDS
                return UNAVAILABLE
            if self._down:
                self._down = False
                log.info("sessions.redis_restored")
            return result
        raise AssertionError("unreachable")

    async def get(self, call_sid: str) -> CallSession | None:
        if (local := await self._local.get(call_sid)) is not None:
            return local
        raw = await self._shared(lambda: self._redis.get(f"voiceagent:session:{call_sid}"))
        return CallSession.from_json(raw) if raw and raw is not UNAVAILABLE else None

    async def put(self, session: CallSession) -> None:
        stored = await self._shared(lambda: self._redis.set(f"voiceagent:session:{session.call_sid}", session.to_json(), ex=self.ttl_seconds))
        if stored is UNAVAILABLE:
            await self._local.put(session)
        else:
            await self._local.delete(session.call_sid)

    async def create(self, session: CallSession) -> bool:
        if await self._local.get(session.call_sid) is not None:
            return False
        key = f"voiceagent:session:{session.call_sid}"
        created = await self._shared(lambda: self._redis.set(key, session.to_json(), ex=self.ttl_seconds, nx=True))
        return await self._local.create(session) if created is UNAVAILABLE else bool(created)

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        claimed = await self._shared(lambda: self._redis.set(f"voiceagent:claim:{key}", b"1", ex=ttl_seconds, nx=True))
        return await self._local.claim(key, ttl_seconds) if claimed is UNAVAILABLE else bool(claimed)

    async def update(self, session: CallSession) -> None:
        if await self._local.get(session.call_sid) is not None:
            await self.put(session)  # written during an outage: back to Redis when it can be
            return
        key = f"voiceagent:session:{session.call_sid}"
        if await self._shared(lambda: self._redis.set(key, session.to_json(), ex=self.ttl_seconds, xx=True)) is UNAVAILABLE:
            await self._local.put(session)

    async def delete(self, call_sid: str) -> CallSession | None:
        local = await self._local.delete(call_sid)
        raw = await self._shared(lambda: self._redis.getdel(f"voiceagent:session:{call_sid}"))
        return local or (CallSession.from_json(raw) if raw and raw is not UNAVAILABLE else None)

    async def count(self, key: str, window_seconds: int) -> int:
        name = f"voiceagent:rate:{key}"

        async def increment() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                value, _ = await pipe.incr(name).expire(name, window_seconds, nx=True).execute()
            return int(value)

        counted = await self._shared(increment)
        return await self._local.count(key, window_seconds) if counted is UNAVAILABLE else counted


class RateLimiter:
    """Fixed-window counts of calls and turns per caller; numbers are hashed, never stored."""

    def __init__(self, store: SessionStore, window_seconds: int) -> None:
        self.store = store
        self.window_seconds = window_seconds

    async def allow(self, kind: str, caller: str, limit: int) -> bool:
        window = int(time.time() // self.window_seconds)
        caller_key = hashlib.sha256(caller.encode()).hexdigest()[:24]
        return await self.store.count(f"{kind}:{caller_key}:{window}", self.window_seconds) <= limit
