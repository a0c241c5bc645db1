"""The Redis store: bridge state shared by every bridge process and kept across restarts.

Layout (every key starts with the configurable prefix, "handoff:" by default):

    conv:<id>            hash, one field per Conversation field, each value JSON
    convs                zset of all conversation ids, scored by created_at
    updated              zset of all conversation ids, scored by updated_at
    state:<state>        zset of ids in that state, scored by created_at
    visitor:<visitor>    zset of the visitor's ids, scored by created_at
    agent:<agent>        zset of ids the agent holds, scored by created_at
    msgs:<id>            list of messages (JSON), in the order accepted
    msgids:<id>          hash message id -> index in msgs:<id>
    clientids:<id>       hash client_id -> index in msgs:<id> (de-duplication)
    queue                zset, score -priority, member "<queued_at µs>:<seq>:<id>", so that
                         Redis orders it by priority, then queued_at, then arrival, exactly
    queue:members        hash id -> its queue member;  queue:seq  arrival counter
    active               hash agent id -> conversations held (claim/release only)
    presence             hash agent id -> JSON of the rest of AgentStatus
    revoked:<jti>        revoked token ids, expiring when the token would have
    flags                list of flags (JSON)
    pickups              zset of pick-ups, scored by ts, trimmed to the newest PICKUPS_KEPT
    rl:<key>:<window>    fixed-window rate-limit counters, expiring after their window

Why a hash of JSON fields rather than one JSON document per conversation: the Lua
scripts that decide races (claim, release, transition) then compare and set single
fields as opaque strings, without decoding JSON inside Redis (Lua's cjson rounds
floats to 14 digits and cannot tell {} from []); Python does all real JSON work.

Everything that decides between racing callers runs as one Lua script, so it is
atomic across processes: create, update/transition (with the index upkeep and the
dequeue on leaving 'queued'), claim and claim_if_room, release and release_to, append
(de-duplication), enqueue and dequeue. The scripts touch keys they compute from the
prefix, which standalone Redis (and Sentinel) allows but Redis Cluster does not: use
one Redis primary.

Every Redis failure is raised as StoreError (the bridge answers 'unavailable').
A lost connection is retried once; timeouts are not retried, because a script may have
run although its answer was lost.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
import uuid
from typing import Any, Awaitable, Callable, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ._common import (CONVERSATION_FIELDS, PICKUPS_KEPT, check_changes, check_priority,
                      check_release_changes, check_state)
from .base import AgentStatus, Conversation, Message, Store, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

MESSAGE_FIELDS = frozenset(f.name for f in dataclasses.fields(Message))
STATUS_FIELDS = frozenset(f.name for f in dataclasses.fields(AgentStatus)) - {"agent_id", "active"}

# Shared Lua: keep the state/agent/visitor indexes in step with a conversation's fields.
# `olds` holds the field values (JSON) before the write; call after writing.
_REINDEX = """
local function index_key(p, field, raw)
  if raw == nil or raw == false then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if not ok or type(value) ~= 'string' or value == '' then return nil end
  if field == 'state' then return p .. 'state:' .. value end
  if field == 'agent_id' then return p .. 'agent:' .. value end
  return p .. 'visitor:' .. value
end
local INDEXED = {'state', 'agent_id', 'visitor_id'}
local function reindex(p, cid, ck, olds)
  local created = tonumber(redis.call('HGET', ck, 'created_at')) or 0
  local updated = tonumber(redis.call('HGET', ck, 'updated_at')) or 0
  for _, field in ipairs(INDEXED) do
    local new = redis.call('HGET', ck, field)
    local old_key = index_key(p, field, olds[field])
    local new_key = index_key(p, field, new)
    if old_key and old_key ~= new_key then redis.call('ZREM', old_key, cid) end
    if new_key then redis.call('ZADD', new_key, created, cid) end
  end
  redis.call('ZADD', p .. 'convs', created, cid)
  redis.call('ZADD', p .. 'updated', updated, cid)
end
local function snapshot(ck)
  local olds = {}
  for _, field in ipairs(INDEXED) do olds[field] = redis.call('HGET', ck, field) end
  return olds
end
local function enqueue(p, cid, score, at)
  if redis.call('HEXISTS', p .. 'queue:members', cid) == 1 then return 0 end
  local seq = redis.call('INCR', p .. 'queue:seq')
  local member = at .. ':' .. string.format('%015d', seq) .. ':' .. cid
  redis.call('ZADD', p .. 'queue', score, member)
  redis.call('HSET', p .. 'queue:members', cid, member)
  return 1
end
local function unqueue(p, cid)
  local member = redis.call('HGET', p .. 'queue:members', cid)
  if member then
    redis.call('ZREM', p .. 'queue', member)
    redis.call('HDEL', p .. 'queue:members', cid)
  end
end
"""

# ARGV: prefix, id, field, value, field, value ...  -> {1} created | {0, hgetall} existed
_CREATE = _REINDEX + """
local p, cid = ARGV[1], ARGV[2]
local ck = p .. 'conv:' .. cid
if redis.call('EXISTS', ck) == 1 then return {0, redis.call('HGETALL', ck)} end
local olds = snapshot(ck)
redis.call('HSET', ck, unpack(ARGV, 3))
reindex(p, cid, ck, olds)
return {1}
"""

# ARGV: prefix, id, n_expected (-1: no check), expected states (JSON)..., field, value ...
# -> -1 unknown conversation | 0 state not expected | hgetall after the change
_APPLY = _REINDEX + """
local p, cid = ARGV[1], ARGV[2]
local ck = p .. 'conv:' .. cid
if redis.call('EXISTS', ck) == 0 then return -1 end
local n = tonumber(ARGV[3])
local state = redis.call('HGET', ck, 'state')
if n >= 0 then
  local ok = false
  for i = 1, n do if ARGV[3 + i] == state then ok = true end end
  if not ok then return 0 end
end
local olds = snapshot(ck)
local first = 4 + math.max(n, 0)
if first <= #ARGV then redis.call('HSET', ck, unpack(ARGV, first)) end
reindex(p, cid, ck, olds)
if state == '"queued"' and redis.call('HGET', ck, 'state') ~= '"queued"' then unqueue(p, cid) end
return redis.call('HGETALL', ck)
"""

# ARGV: prefix, id, agent id (raw), agent id (JSON), now (JSON), capacity (-1: none) -> 1 | 0
_CLAIM = _REINDEX + """
local p, cid, agent, agent_json, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local capacity = tonumber(ARGV[6])
local ck = p .. 'conv:' .. cid
if not redis.call('HGET', p .. 'queue:members', cid) then return 0 end
if redis.call('HGET', ck, 'state') ~= '"queued"' then return 0 end
if capacity >= 0 and (tonumber(redis.call('HGET', p .. 'active', agent)) or 0) >= capacity then
  return 0
end
local olds = snapshot(ck)
unqueue(p, cid)
redis.call('HSET', ck, 'state', '"agent"', 'agent_id', agent_json, 'assigned_at', now,
           'updated_at', now)
reindex(p, cid, ck, olds)
redis.call('HINCRBY', p .. 'active', agent, 1)
return 1
"""

# ARGV: prefix, id, agent id (raw), agent id (JSON), now (JSON) -> 1 | 0
_RELEASE = _REINDEX + """
local p, cid, agent, agent_json, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ck = p .. 'conv:' .. cid
if redis.call('HGET', ck, 'agent_id') ~= agent_json then return 0 end
local olds = snapshot(ck)
redis.call('HSET', ck, 'agent_id', 'null', 'updated_at', now)
reindex(p, cid, ck, olds)
local active = tonumber(redis.call('HGET', p .. 'active', agent)) or 0
if active > 0 then redis.call('HINCRBY', p .. 'active', agent, -1)
else redis.call('HSET', p .. 'active', agent, 0) end
return 1
"""

# ARGV: prefix, id, agent id (raw), agent id (JSON), enqueue ('1'|'0'), field, value ...
# -> 0 not held by that agent | hgetall after the change
_RELEASE_TO = _REINDEX + """
local p, cid, agent, agent_json, into_queue = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ck = p .. 'conv:' .. cid
if redis.call('HGET', ck, 'agent_id') ~= agent_json then return 0 end
local olds = snapshot(ck)
redis.call('HSET', ck, unpack(ARGV, 6))
reindex(p, cid, ck, olds)
local active = tonumber(redis.call('HGET', p .. 'active', agent)) or 0
if active > 0 then redis.call('HINCRBY', p .. 'active', agent, -1)
else redis.call('HSET', p .. 'active', agent, 0) end
local state = redis.call('HGET', ck, 'state')
if olds['state'] == '"queued"' and state ~= '"queued"' then unqueue(p, cid) end
if into_queue == '1' then
  local priority = tonumber(redis.call('HGET', ck, 'priority')) or 0
  local queued_at = tonumber(redis.call('HGET', ck, 'queued_at')) or 0
  enqueue(p, cid, -priority, string.format('%020d', math.floor(queued_at * 1000000 + 0.5)))
end
return redis.call('HGETALL', ck)
"""

# ARGV: prefix, id, message id, has client id ('1'|'0'), client id, message JSON
# -> {-1} unknown conversation | {0} appended | {1, stored message JSON}
_APPEND = """
local p, cid, mid, has_client, client_id, body = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', p .. 'conv:' .. cid) == 0 then return {-1} end
local lk, ik, ck = p .. 'msgs:' .. cid, p .. 'msgids:' .. cid, p .. 'clientids:' .. cid
local pos = false
if has_client == '1' then pos = redis.call('HGET', ck, client_id) end
if not pos then pos = redis.call('HGET', ik, mid) end
if pos then return {1, redis.call('LINDEX', lk, pos)} end
local n = redis.call('RPUSH', lk, body)
redis.call('HSET', ik, mid, n - 1)
if has_client == '1' then redis.call('HSET', ck, client_id, n - 1) end
return {0}
"""

# ARGV: prefix, id, has after ('1'|'0'), after id, limit -> list of message JSON
_MESSAGES = """
local p, cid, has_after, after, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local start = 0
if has_after == '1' then
  local pos = redis.call('HGET', p .. 'msgids:' .. cid, after)
  if pos then start = tonumber(pos) + 1 end
end
return redis.call('LRANGE', p .. 'msgs:' .. cid, start, start + limit - 1)
"""

# ARGV: prefix, id, -priority, queued_at in µs (zero-padded) -> -1 unknown | 0 already | 1
_ENQUEUE = _REINDEX + """
local p, cid, score, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', p .. 'conv:' .. cid) == 0 then return -1 end
return enqueue(p, cid, score, at)
"""

_DEQUEUE = _REINDEX + """
unqueue(ARGV[1], ARGV[2])
return 1
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _queue_time(queued_at: float) -> str:
    """queued_at in whole microseconds, zero-padded so that text order is time order
    (rounded half up, exactly as the release_to script does)."""
    return f"{max(math.floor(queued_at * 1_000_000 + 0.5), 0):020d}"


def _wrap(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Turn every Redis or socket failure into StoreError, keeping the cause."""

    @functools.wraps(method)
    async def wrapper(self: "RedisStore", *args: Any, **kwargs: Any) -> T:
        try:
            return await method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis store unavailable: {type(exc).__name__}: {exc}") from exc

    return wrapper


class RedisStore(Store):
    """base.Store on Redis (see module docstring for the key layout and atomicity).

    Several instances, in one process or many, may share one Redis and prefix.
    `socket_timeout` bounds every command, so a hung Redis turns into StoreError.
    """

    MAX_CONNECTIONS = 64

    def __init__(self, url: str, *, prefix: str = "handoff:", socket_timeout: float = 5.0,
                 clock: Callable[[], float] = time.time):
        self._prefix = prefix
        self._clock = clock
        # a blocking pool: under a burst, commands wait (up to socket_timeout) for one of
        # MAX_CONNECTIONS connections instead of failing at once (redis-py's default pool
        # raises MaxConnectionsError past 100)
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=self.MAX_CONNECTIONS, timeout=socket_timeout,
            decode_responses=True, socket_timeout=socket_timeout,
            socket_connect_timeout=min(socket_timeout, 2.0),
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1,
                        supported_errors=(RedisConnectionError,)),
            health_check_interval=30)
        self._redis = aioredis.Redis.from_pool(pool)
        kwargs = self._redis.connection_pool.connection_kwargs
        self._where = f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}" \
                      f"/{kwargs.get('db', 0)}"
        self._create = self._redis.register_script(_CREATE)
        self._apply_script = self._redis.register_script(_APPLY)
        self._claim = self._redis.register_script(_CLAIM)
        self._release = self._redis.register_script(_RELEASE)
        self._release_to = self._redis.register_script(_RELEASE_TO)
        self._append = self._redis.register_script(_APPEND)
        self._messages = self._redis.register_script(_MESSAGES)
        self._enqueue = self._redis.register_script(_ENQUEUE)
        self._dequeue = self._redis.register_script(_DEQUEUE)

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def start(self) -> None:
        """Check that Redis answers; StoreError otherwise, so the bridge does not start blind."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis store at {self._where} unreachable: {exc}") from exc
        log.info("redis store at %s, key prefix %r", self._where, self._prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # conversations

    @staticmethod
    def _encode_fields(fields: dict[str, Any]) -> list[str]:
        flat: list[str] = []
        for name, value in fields.items():
            flat += [name, _dumps(value)]
        return flat

    @staticmethod
    def _decode_conversation(flat: list[str] | dict[str, str]) -> Conversation:
        pairs = flat.items() if isinstance(flat, dict) else zip(flat[::2], flat[1::2])
        fields = {k: json.loads(v) for k, v in pairs if k in CONVERSATION_FIELDS}
        return Conversation(**fields)

    @_wrap
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        check_state(conversation.state)
        now = self._clock()
        stored = dataclasses.replace(
            conversation, created_at=conversation.created_at or now,
            updated_at=conversation.updated_at or conversation.created_at or now)
        result = await self._create(args=[self._prefix, stored.id,
                                          *self._encode_fields(dataclasses.asdict(stored))])
        if result[0] == 0:
            return self._decode_conversation(result[1])
        log.debug("conversation %s created", stored.id)
        return stored

    @_wrap
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._redis.hgetall(self._key("conv", conversation_id))
        return self._decode_conversation(found) if found else None

    async def _apply(self, conversation_id: str, expected: tuple[str, ...] | None,
                     changes: dict[str, Any]) -> Conversation | None:
        changes = {**changes}
        changes.setdefault("updated_at", self._clock())
        exp = [] if expected is None else [_dumps(s) for s in expected]
        result = await self._apply_script(args=[
            self._prefix, conversation_id, -1 if expected is None else len(exp), *exp,
            *self._encode_fields(changes)])
        if result == -1:
            if expected is None:
                raise KeyError(conversation_id)
            return None
        if result == 0:
            return None
        return self._decode_conversation(result)

    @_wrap
    async def update_conversation(self, conversation_id: str, **changes: Any) -> Conversation:
        check_changes(changes)
        updated = await self._apply(conversation_id, None, changes)
        assert updated is not None
        return updated

    @_wrap
    async def transition(self, conversation_id: str, expected: tuple[str, ...], new_state: str,
                         **changes: Any) -> Conversation | None:
        check_state(new_state)
        check_changes(changes)
        return await self._apply(conversation_id, tuple(expected), {**changes, "state": new_state})

    @_wrap
    async def list_conversations(self, *, state: str | None = None, visitor_id: str | None = None,
                                 agent_id: str | None = None, since: float | None = None,
                                 limit: int = 1000) -> list[Conversation]:
        if limit <= 0:
            return []
        if agent_id is not None:
            ids = await self._redis.zrange(self._key("agent", agent_id), 0, -1)
        elif visitor_id is not None:
            ids = await self._redis.zrange(self._key("visitor", visitor_id), 0, -1)
        elif state is not None:
            ids = await self._redis.zrange(self._key("state", state), 0, -1)
        elif since is not None:
            ids = await self._redis.zrangebyscore(self._key("updated"), since, "+inf")
        else:
            ids = await self._redis.zrevrange(self._key("convs"), 0, limit - 1)
        found = await self._load_conversations(ids)
        found = [c for c in found
                 if (state is None or c.state == state)
                 and (visitor_id is None or c.visitor_id == visitor_id)
                 and (agent_id is None or c.agent_id == agent_id)
                 and (since is None or c.updated_at >= since)]
        found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return found[:limit]

    @_wrap
    async def count_conversations(self, *, state: str | None = None) -> int:
        return await self._redis.zcard(self._key("state", state) if state else self._key("convs"))

    @_wrap
    async def get_conversations(self, conversation_ids: list[str]) -> list[Conversation]:
        return await self._load_conversations(list(conversation_ids))

    async def _load_conversations(self, ids: list[str]) -> list[Conversation]:
        loaded: list[Conversation] = []
        for start in range(0, len(ids), 200):
            async with self._redis.pipeline(transaction=False) as pipe:
                for cid in ids[start:start + 200]:
                    pipe.hgetall(self._key("conv", cid))
                loaded += [self._decode_conversation(h) for h in await pipe.execute() if h]
        return loaded

    # messages

    @staticmethod
    def _decode_message(raw: str) -> Message:
        fields = {k: v for k, v in json.loads(raw).items() if k in MESSAGE_FIELDS}
        return Message(**fields)

    @_wrap
    async def append_message(self, message: Message) -> tuple[Message, bool]:
        has_client = message.client_id is not None
        result = await self._append(args=[
            self._prefix, message.conversation_id, message.id, "1" if has_client else "0",
            message.client_id or "", _dumps(dataclasses.asdict(message))])
        if result[0] == -1:
            raise KeyError(message.conversation_id)
        if result[0] == 1:
            return self._decode_message(result[1]), True
        return message, False

    @_wrap
    async def messages(self, conversation_id: str, *, after_id: str | None = None,
                       limit: int = 500) -> list[Message]:
        if limit <= 0:
            return []
        raw = await self._messages(args=[self._prefix, conversation_id,
                                         "0" if after_id is None else "1", after_id or "", limit])
        return [self._decode_message(r) for r in raw]

    # queue

    @_wrap
    async def enqueue(self, conversation_id: str, priority: int, queued_at: float) -> None:
        check_priority(priority)
        at = _queue_time(queued_at)
        result = await self._enqueue(args=[self._prefix, conversation_id, -priority, at])
        if result == -1:
            raise KeyError(conversation_id)
        if result == 1:
            log.debug("conversation %s queued (priority %d)", conversation_id, priority)

    @_wrap
    async def dequeue(self, conversation_id: str) -> None:
        await self._dequeue(args=[self._prefix, conversation_id])

    @_wrap
    async def queue(self) -> list[str]:
        members = await self._redis.zrange(self._key("queue"), 0, -1)
        return [m.split(":", 2)[2] for m in members]

    @_wrap
    async def claim(self, conversation_id: str, agent_id: str) -> bool:
        return await self._claim_with(conversation_id, agent_id, -1)

    @_wrap
    async def claim_if_room(self, conversation_id: str, agent_id: str, capacity: int) -> bool:
        return await self._claim_with(conversation_id, agent_id, int(capacity))

    async def _claim_with(self, conversation_id: str, agent_id: str, capacity: int) -> bool:
        won = await self._claim(args=[self._prefix, conversation_id, agent_id, _dumps(agent_id),
                                      _dumps(self._clock()), capacity])
        if won:
            log.debug("conversation %s claimed by agent %s", conversation_id, agent_id)
        return bool(won)

    @_wrap
    async def release(self, conversation_id: str, agent_id: str) -> bool:
        done = await self._release(args=[self._prefix, conversation_id, agent_id,
                                         _dumps(agent_id), _dumps(self._clock())])
        if done:
            log.debug("conversation %s released by agent %s", conversation_id, agent_id)
        return bool(done)

    @_wrap
    async def release_to(self, conversation_id: str, agent_id: str, new_state: str,
                         **changes: Any) -> Conversation | None:
        check_state(new_state)
        check_release_changes(changes)
        now = self._clock()
        into_queue = new_state == "queued"
        if into_queue:
            if "priority" in changes:
                check_priority(changes["priority"])
            if changes.get("queued_at") is None:
                changes["queued_at"] = now
        changes = {**changes, "state": new_state, "agent_id": None}
        changes.setdefault("updated_at", now)
        result = await self._release_to(args=[self._prefix, conversation_id, agent_id,
                                              _dumps(agent_id), "1" if into_queue else "0",
                                              *self._encode_fields(changes)])
        if result == 0:
            return None
        log.debug("conversation %s released by agent %s to %s", conversation_id, agent_id, new_state)
        return self._decode_conversation(result)

    @_wrap
    async def record_pickup(self, waited_s: float, ts: float) -> None:
        key = self._key("pickups")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {_dumps([ts, waited_s, uuid.uuid4().hex]): ts})
            pipe.zremrangebyrank(key, 0, -(PICKUPS_KEPT + 1))
            await pipe.execute()

    @_wrap
    async def recent_pickups(self, since: float) -> list[tuple[float, float]]:
        raw = await self._redis.zrangebyscore(self._key("pickups"), since, "+inf")
        return sorted((float(ts), float(waited)) for ts, waited, _ in map(json.loads, raw))

    # agents

    @_wrap
    async def set_agent_status(self, status: AgentStatus) -> None:
        fields = {k: v for k, v in dataclasses.asdict(status).items() if k in STATUS_FIELDS}
        fields["teams"] = list(status.teams)
        await self._redis.hset(self._key("presence"), status.agent_id, _dumps(fields))

    @staticmethod
    def _decode_status(agent_id: str, presence: str | None, active: str | None) -> AgentStatus:
        fields = {k: v for k, v in json.loads(presence).items() if k in STATUS_FIELDS} \
            if presence else {}
        if "teams" in fields:
            fields["teams"] = tuple(fields["teams"])
        return AgentStatus(agent_id=agent_id, active=int(active or 0), **fields)

    @_wrap
    async def get_agent_status(self, agent_id: str) -> AgentStatus | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._key("presence"), agent_id)
            pipe.hget(self._key("active"), agent_id)
            presence, active = await pipe.execute()
        if presence is None and active is None:
            return None
        return self._decode_status(agent_id, presence, active)

    @_wrap
    async def agent_statuses(self) -> list[AgentStatus]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key("presence"))
            pipe.hgetall(self._key("active"))
            presence, active = await pipe.execute()
        return [self._decode_status(a, presence.get(a), active.get(a))
                for a in sorted(set(presence) | set(active))]

    # tokens

    @_wrap
    async def revoke_token(self, token_id: str, expires_at: float) -> None:
        if expires_at <= self._clock():
            return
        await self._redis.set(self._key("revoked", token_id), "1",
                              pxat=math.ceil(expires_at * 1000))

    @_wrap
    async def is_token_revoked(self, token_id: str) -> bool:
        return bool(await self._redis.exists(self._key("revoked", token_id)))

    # flags

    @_wrap
    async def add_flag(self, conversation_id: str, message_id: str, agent_id: str, note: str,
                       ts: float) -> None:
        await self._redis.rpush(self._key("flags"), _dumps({
            "conversation_id": conversation_id, "message_id": message_id, "agent_id": agent_id,
            "note": note, "ts": ts}))

    @_wrap
    async def flags(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in await self._redis.lrange(self._key("flags"), 0, -1)]

    # rate limiting

    @_wrap
    async def hit(self, key: str, window_s: float) -> int:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        window = math.floor(self._clock() / window_s)
        counter = self._key("rl", key, str(window))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.pexpireat(counter, math.ceil((window + 1) * window_s * 1000) + 1000)
            count, _ = await pipe.execute()
        return int(count)
