"""A Redis lock store for Rasa 3.6 whose ticket operations are atomic.

Rasa serializes the messages of one conversation with a ticket lock
(``rasa/core/lock.py``): every message takes the next ticket number and waits until
every lower ticket has been served. ``rasa.core.lock_store.RedisLockStore`` keeps a
conversation's ``TicketLock`` as one JSON value and changes it by read-modify-write:
``issue_ticket`` is ``get_or_create_lock`` (GET), ``lock.issue_ticket`` (in Python),
``save_lock`` (SET); ``cleanup`` is ``finish_serving`` (GET, remove, SET), then
``is_someone_waiting`` (GET) and ``delete_lock`` (DEL); ``update_lock`` is GET, drop
expired, SET. Two Rasa servers touching one conversation's lock between one server's
GET and its SET therefore draw the same ticket number (both messages run at once),
overwrite each other's ticket (one message is never waited for), or delete a lock
somebody just took a ticket on (that message's ``_acquire_lock`` finds no lock and
raises ``LockError``: HTTP 500). Waiting also polls every second.

``AtomicRedisLockStore`` does each of those changes in one Lua script, so Redis runs
it as one step. It keeps Rasa's stored format (a stock ``RedisLockStore`` reading the
same key understands it), Rasa's ticket numbering and FIFO order, and the ticket
lifetime (``TICKET_LOCK_LIFETIME``, Rasa's default 60 s) so that the ticket of a killed
server expires; a live server renews its tickets (``lock``), so only a dead server's do. Expiry is decided on the Redis server's clock (``TIME``), one clock
for every Rasa server, and the key itself expires shortly after its last ticket, so a
crashed server leaves nothing behind. A waiting message polls every ``poll_interval``
seconds (default 20 ms) instead of every second.

In endpoints.yml (``python -m bot.endpoints`` writes it for a redis:// URL)::

    lock_store:
      type: bot.lock_store.AtomicRedisLockStore
      url: 127.0.0.1          # host
      port: 6379
      db: 0
      password: ...           # optional
      key_prefix: supportline # optional, alphanumeric
      poll_interval: 0.02     # optional, seconds

Needs Redis >= 3.2 (scripts that call TIME before writing).
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 0.02
# A lock key lives this long after its last ticket expires (clock rounding to spare).
EXPIRY_MARGIN_MS = 1000

# Shared Lua helpers. A lock is stored exactly as TicketLock.dumps() writes it:
# {"conversation_id": "...", "tickets": ["{\"number\": 0, \"expires\": 1700000000.5}", ...]}
# (each ticket a JSON string inside the JSON list). Tickets are kept in issue order.
_LUA_COMMON = """
if redis.replicate_commands then redis.replicate_commands() end

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- The stored tickets (number, expires, original text), or nil when there is no lock.
local function load(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local tickets = {}
  local stored = cjson.decode(raw)['tickets']
  if type(stored) == 'table' then
    for _, text in ipairs(stored) do
      local t = cjson.decode(text)
      tickets[#tickets + 1] = {number = tonumber(t['number']),
                               expires = tonumber(t['expires']), text = text}
    end
  end
  return tickets
end

-- The tickets that have not expired at `at` (Rasa: expired when now > expires),
-- and whether any was dropped.
local function live(tickets, at)
  local kept = {}
  for _, t in ipairs(tickets) do
    if not (at > t.expires) then kept[#kept + 1] = t end
  end
  return kept, #kept ~= #tickets
end

-- Write the lock back, or delete it when no ticket is left. The key expires
-- shortly after its last ticket: a lock of killed servers goes away.
local function store(key, conversation_id, tickets)
  if #tickets == 0 then
    redis.call('DEL', key)
    return false
  end
  local texts, last = {}, 0
  for i, t in ipairs(tickets) do
    texts[i] = cjson.encode(t.text)
    if t.expires > last then last = t.expires end
  end
  local body = '{"conversation_id": ' .. cjson.encode(conversation_id) ..
               ', "tickets": [' .. table.concat(texts, ', ') .. ']}'
  redis.call('SET', key, body)
  redis.call('PEXPIREAT', key, math.ceil(last * 1000) + EXPIRY_MARGIN_MS)
  return body
end
"""

# KEYS[1] lock key; ARGV conversation_id, lifetime (s). Returns the ticket number:
# last live ticket + 1, or 0 for an empty lock (as TicketLock.issue_ticket).
_LUA_ISSUE = """
local at = now()
local tickets = live(load(KEYS[1]) or {}, at)
local number = 0
if #tickets > 0 then number = tickets[#tickets].number + 1 end
local expires = at + tonumber(ARGV[2])
tickets[#tickets + 1] = {number = number, expires = expires,
  text = string.format('{"number": %d, "expires": %.6f}', number, expires)}
store(KEYS[1], ARGV[1], tickets)
return number
"""

# KEYS[1] lock key; ARGV conversation_id, ticket number ('' for none). Removes that
# ticket and the expired ones; deletes the lock when none is left. Returns the
# number of tickets left, -1 when there was no lock.
_LUA_RELEASE = """
local tickets = load(KEYS[1])
if not tickets then return -1 end
local kept = live(tickets, now())
local remaining = {}
for _, t in ipairs(kept) do
  if ARGV[2] == '' or t.number ~= tonumber(ARGV[2]) then remaining[#remaining + 1] = t end
end
if #remaining ~= #tickets or #remaining == 0 then store(KEYS[1], ARGV[1], remaining) end
return #remaining
"""

# KEYS[1] lock key; ARGV conversation_id, ticket number. Drops expired tickets, then:
# {1, lock JSON} when the ticket is first in line (its turn), {0, tickets ahead} when
# it waits, {-1} when the ticket (or the whole lock) is gone: it expired.
_LUA_POLL = """
local tickets = load(KEYS[1])
if not tickets then return {-1} end
local kept, dropped = live(tickets, now())
local body = false
if dropped then body = store(KEYS[1], ARGV[1], kept) end
local ticket = tonumber(ARGV[2])
for position, t in ipairs(kept) do
  if t.number == ticket then
    if position == 1 then
      return {1, body or redis.call('GET', KEYS[1])}
    end
    return {0, position - 1}
  end
end
return {-1}
"""


# KEYS[1] lock key; ARGV conversation_id, ticket number, lifetime (s). Drops expired
# tickets and moves that ticket's expiry to now + lifetime. Returns 1, or 0 when the
# ticket is gone (it expired before this renewal).
_LUA_RENEW = """
local tickets = load(KEYS[1])
if not tickets then return 0 end
local at = now()
local kept = live(tickets, at)
local found = 0
for _, t in ipairs(kept) do
  if t.number == tonumber(ARGV[2]) then
    t.expires = at + tonumber(ARGV[3])
    t.text = string.format('{"number": %d, "expires": %.6f}', t.number, t.expires)
    found = 1
  end
end
store(KEYS[1], ARGV[1], kept)
return found
"""


def _script(body: str) -> str:
    return f"local EXPIRY_MARGIN_MS = {EXPIRY_MARGIN_MS}\n" + _LUA_COMMON + body


_REDIS_SETTINGS = frozenset(inspect.signature(RedisLockStore.__init__).parameters) - {"self"}


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's ``RedisLockStore`` with every ticket change done atomically in Redis.

    Built by Rasa from endpoints.yml as ``cls(endpoint_config=...)``; the settings are
    those of Rasa's ``redis`` lock store (``url`` is the host) plus ``poll_interval``
    (seconds between two looks at the lock while waiting). Tests and scripts may pass
    the same settings as keyword arguments instead (``host=`` for the host).
    """

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 poll_interval: float = DEFAULT_POLL_INTERVAL_S, **settings: Any) -> None:
        if endpoint_config is not None:
            settings = {**endpoint_config.kwargs, **settings}
            if endpoint_config.url:
                settings.setdefault("host", endpoint_config.url)
            poll_interval = settings.pop("poll_interval", poll_interval)
        unknown = sorted(set(settings) - _REDIS_SETTINGS)
        if unknown:
            raise ValueError(f"AtomicRedisLockStore: unknown settings {unknown}; "
                             f"known: {sorted(_REDIS_SETTINGS | {'poll_interval'})}")
        self.poll_interval = float(poll_interval)
        if not self.poll_interval > 0:
            raise ValueError(f"AtomicRedisLockStore: poll_interval must be > 0, "
                             f"got {poll_interval!r}")
        super().__init__(**settings)
        self._issue = self.red.register_script(_script(_LUA_ISSUE))
        self._release = self.red.register_script(_script(_LUA_RELEASE))
        self._poll = self.red.register_script(_script(_LUA_POLL))
        self._renew = self.red.register_script(_script(_LUA_RENEW))

    def _key(self, conversation_id: Text) -> Text:
        return self.key_prefix + conversation_id

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Append a ticket valid for ``lock_lifetime`` seconds (in one step) and
        return its number; creates the lock if there is none."""
        try:
            number = int(self._issue(keys=[self._key(conversation_id)],
                                     args=[conversation_id, repr(float(lock_lifetime))]))
        except Exception as e:
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e
        logger.debug("Issued ticket %s for conversation '%s'.", number, conversation_id)
        return number

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove the ticket (and expired ones) in one step; an empty lock is deleted,
        which every reader treats like an empty one."""
        self._release(keys=[self._key(conversation_id)], args=[conversation_id, ticket_number])

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove the ticket and delete the lock if nobody else holds a ticket, in one
        step: a ticket issued meanwhile is either seen (lock kept) or issued after the
        delete (on a new lock)."""
        left = self._release(keys=[self._key(conversation_id)],
                             args=[conversation_id, ticket_number])
        self._log_deletion(conversation_id, deletion_successful=int(left) == 0)

    def update_lock(self, conversation_id: Text) -> None:
        """Drop expired tickets in one step."""
        self._release(keys=[self._key(conversation_id)], args=[conversation_id, ""])

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: Optional[float] = None,
                   ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock: take a ticket, wait for its turn (polling every
        ``wait_time_in_seconds``, by default ``poll_interval``), release it on exit.

        The ticket is a lease: while this message waits and while it is served, its
        expiry is pushed ``lock_lifetime`` ahead every third of the lifetime. A live
        server's ticket therefore never expires, however long it waits or its turn
        lasts, and a killed server's ticket frees the conversation one lifetime after
        its last renewal. (Rasa's tickets expire a fixed time after they are issued: a
        waiter behind a killed server's ticket could expire before it got its turn,
        and a turn longer than the lifetime let the next message in beside it.)
        Rasa calls ``lock(conversation_id)``; the stock store then polls every second.
        """
        wait = self.poll_interval if wait_time_in_seconds is None else wait_time_in_seconds
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        renewing = asyncio.get_running_loop().create_task(
            self._keep_alive(conversation_id, ticket, float(lock_lifetime)))
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            self.cleanup(conversation_id, ticket)

    async def _keep_alive(self, conversation_id: Text, ticket: int, lifetime: float) -> None:
        """Renew the ticket every third of its lifetime until cancelled or gone."""
        interval = max(lifetime / 3, self.poll_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = int(self._renew(keys=[self._key(conversation_id)],
                                          args=[conversation_id, ticket, repr(lifetime)]))
            except Exception as e:  # noqa: BLE001 - a Redis hiccup: the next renewal may work
                logger.warning("Could not renew ticket %s of conversation '%s': %s",
                               ticket, conversation_id, e)
                continue
            if not renewed:
                return

    async def _acquire_lock(self, conversation_id: Text, ticket: int,
                            wait_time_in_seconds: float) -> TicketLock:
        """Wait until ``ticket`` is first in line; LockError once it has expired
        (as Rasa, whose waiter fails when its lock has expired)."""
        while True:
            reply = self._poll(keys=[self._key(conversation_id)], args=[conversation_id, ticket])
            state = int(reply[0])
            if state == 1:
                logger.debug("Acquired lock for conversation '%s' (ticket %s).",
                             conversation_id, ticket)
                return TicketLock.from_dict(json.loads(reply[1]))
            if state < 0:
                raise LockError(f"Could not acquire lock for conversation_id "
                                f"'{conversation_id}': ticket {ticket} expired.")
            logger.debug("Ticket %s of conversation '%s' waits for %s ticket(s).",
                         ticket, conversation_id, int(reply[1]))
            await asyncio.sleep(wait_time_in_seconds)
