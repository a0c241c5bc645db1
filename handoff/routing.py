"""Who owns a conversation: the one place that enforces the state machine

    bot -> queued -> agent -> (bot | closed)        (bot|queued -> closed for tickets)

and routes every message by it. In ``bot`` the visitor talks to Rasa; ``queued`` keeps
the visitor's messages (and still logs them in Rasa's paused tracker) while the visitor
sees the queue position; in ``agent`` one agent owns the chat and only that agent gets
the visitor's messages, while the agent's messages reach every tab of the visitor and
are written into Rasa's tracker. Every state change goes through `Store.transition` /
`Store.claim` / `Store.release`, which are atomic, so racing bridge processes cannot both
win; leaving an agent goes through `Store.release_to` (release and transition in one
step) and claims through `Store.claim_if_room` (capacity checked in the same step). The Socket.IO and HTTP layers call this module; it raises errors.HandoffError
subclasses and never formats wire errors itself.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from . import bot_reports, queueing
from .errors import BadRequest, Forbidden, NotFound, Unavailable
from .hours import BusinessHours
from .ids import new_message_id, new_session_id, new_ticket_id
from .metrics import Metrics
from .outbox import Outbox
from .packet import build_packet
from .pii import mask
from .rasa import RasaClient
from .settings import Settings
from .shapes import fallback_signal, handoff_signal, rest_to_parts, to_agent_wire, to_wire
from .store.base import AgentStatus, Conversation, Message, Store

log = logging.getLogger(__name__)

QUEUE_REFRESH_S = 10.0   # a non-empty queue is re-sent this often (waiting times, aging)
HISTORY_LIMIT = 1000     # messages replayed to a visitor tab / shown to an agent: the newest
QUEUE_PUSH_LIMIT = 100   # entries in a pushed `queue` event (with "total"); GET /api/queue has all
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
METADATA_KEYS = ("page_url", "user_agent", "language", "visitor_id", "referrer", "title")


def _coarse(seconds: float) -> float:
    """Expected waits in steps of 30 s: precise enough, and positions are re-sent only
    when something a visitor would notice changes."""
    return float(max(30, 30 * round(seconds / 30)))


@dataclass(frozen=True)
class QueueView:
    """A snapshot for building many conversation_state payloads at once."""

    now: float
    order: list[Conversation]
    pickups: list[tuple[float, float]]
    open: bool
    answering: bool

    def position(self, conversation_id: str) -> int | None:
        return next((i + 1 for i, c in enumerate(self.order) if c.id == conversation_id), None)


@dataclass(frozen=True)
class AgentInfo:
    """What the bridge needs to know about an agent account."""

    id: str
    name: str
    teams: tuple[str, ...] = ()
    capacity: int = 3


AgentLookup = Callable[[str], Awaitable["AgentInfo | None"]]


class Router:
    """The conversation state machine and message routing (see module docstring)."""

    def __init__(self, settings: Settings, store: Store, rasa: RasaClient, outbox: Outbox,
                 metrics: Metrics, agents: AgentLookup, *, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self.out = outbox
        self.metrics = metrics
        self.lookup_agent = agents
        self.clock = clock
        self.hours = BusinessHours(settings.business_hours, settings.timezone)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sent_positions: dict[str, tuple[int, float | None]] = {}
        # agents with a socket in this process (set by the app): their last_seen is kept
        # fresh, so a disconnect seen by another bridge process does not start their grace
        self.local_agents: Callable[[], Any] = lambda: ()
        self._queue_pushed_at = 0.0
        self._push_running = False
        self._push_again = False
        # does this process hold a socket of a visitor session? (set by the app; positions
        # are pushed by the process that holds the visitor's socket, without Redis fan-out)
        self.local_session: Callable[[str], bool] | None = None

    # ------------------------------------------------------------------ helpers

    def _stale_after(self) -> float:
        """An online/away agent whose last_seen is older than this has no socket in any
        live bridge process (each process refreshes its agents every tick): its process
        died without saying goodbye."""
        return max(self.settings.agent_disconnect_grace_s, 5 * self.settings.assign_interval_s)

    def present(self, status: AgentStatus, now: float) -> bool:
        """Online or away, and still refreshed by a live bridge process."""
        return status.status in ("online", "away") and now - status.last_seen <= self._stale_after()

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        """Serializes the work on one conversation within this process (message order)."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        return lock

    def spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task:
        """Run work after the handler has answered (acks go out first); errors are logged."""
        async def runner() -> None:
            try:
                await coro
            except Exception:  # noqa: BLE001 - a background failure must not vanish silently
                log.exception("background work failed: %s", what)
        task = asyncio.get_running_loop().create_task(runner())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for background work (cleanup and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _mask(self, value: Any) -> Any:
        return mask(value) if self.settings.mask_pii else value

    async def _conversation(self, conversation_id: str) -> Conversation:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound("no such conversation")
        return conversation

    async def _append(self, conversation_id: str, sender: str, text: str | None, *,
                      payload: dict[str, Any] | None = None, client_id: str | None = None,
                      agent_id: str | None = None, agent_name: str | None = None) -> tuple[Message, bool]:
        message = Message(id=new_message_id(), conversation_id=conversation_id, ts=self.clock(),
                          sender=sender, text=text, client_id=client_id, agent_id=agent_id,
                          agent_name=agent_name, payload=payload or {})
        return await self.store.append_message(message)

    async def _say(self, conversation_id: str, sender: str, text: str | None, **kw: Any) -> Message:
        """Log a message for the visitor and emit it to every tab as bot_uttered."""
        message, _ = await self._append(conversation_id, sender, text, **kw)
        await self.out.visitor(conversation_id, "bot_uttered", to_wire(message))
        return message

    async def _system(self, conversation_id: str, text: str) -> Message:
        return await self._say(conversation_id, "system", text)

    # ------------------------------------------------------------------ visitor side

    async def open_session(self, requested_id: str | None) -> tuple[Conversation, bool]:
        """The conversation for a session_request: the requested one if the bridge issued
        it and it is not closed, else a new one. Returns (conversation, is_new)."""
        if requested_id and isinstance(requested_id, str) and len(requested_id) <= 128:
            existing = await self.store.get_conversation(requested_id)
            if existing is not None and existing.state != "closed":
                return existing, False
        now = self.clock()
        conversation = await self.store.create_conversation(
            Conversation(id=new_session_id(), state="bot", created_at=now, updated_at=now))
        log.info("conversation %s started", conversation.id)
        return conversation, True

    async def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The visitor-visible log (agents' internal notes left out)."""
        return [to_wire(m) for m in await self.recent_log(conversation_id) if m.sender != "note"]

    async def recent_log(self, conversation_id: str, keep: int = HISTORY_LIMIT) -> list[Message]:
        """The last `keep` messages of the log, in order (a replay after a reconnect must
        include the newest messages, also in a conversation longer than `keep`)."""
        kept: list[Message] = []
        after: str | None = None
        while True:
            page = await self.store.messages(conversation_id, after_id=after, limit=keep)
            kept = (kept + page)[-keep:]
            if len(page) < keep:
                return kept
            after = page[-1].id

    async def visitor_message(self, conversation_id: str, text: str, *, client_id: str | None,
                              metadata: dict[str, Any]) -> tuple[Message, bool]:
        """Accept a visitor message: log it (once per client_id), show it on every tab,
        route it by the conversation's state. Returns (message, duplicate)."""
        conversation = await self._conversation(conversation_id)
        if conversation.state == "closed":
            raise Forbidden("this conversation is closed; request a new session")
        message, duplicate = await self._append(conversation_id, "visitor", text, client_id=client_id)
        if duplicate:
            return message, True
        await self._note_metadata(conversation, metadata)
        # Rasa's turn starts before the echo is written, so the echo costs the visitor no
        # wait; the bot's replies are held until the echo has gone out (see _ask_bot).
        echoed = asyncio.Event()
        self.spawn(self._process_visitor_message(conversation_id, message, metadata, echoed),
                   f"visitor message {message.id}")
        try:
            await self.out.visitor(conversation_id, "visitor_uttered", {
                "id": message.id, "client_id": client_id, "text": text, "ts": message.ts})
            if conversation.state == "agent" and conversation.agent_id:
                self.metrics.messages.labels(direction="visitor_to_agent").inc()
                await self.out.agent(conversation.agent_id, "visitor_message", {
                    "conversation_id": conversation_id, "id": message.id,
                    "text": self._mask(text), "ts": message.ts})
        finally:
            echoed.set()
        return message, False

    async def _note_metadata(self, conversation: Conversation, metadata: dict[str, Any]) -> None:
        changes: dict[str, Any] = {}
        for key, field_ in (("page_url", "page_url"), ("user_agent", "user_agent"), ("visitor_id", "visitor_id")):
            value = metadata.get(key)
            if isinstance(value, str) and value and value[:1000] != getattr(conversation, field_):
                changes[field_] = value[:1000]
        if changes:
            await self.store.update_conversation(conversation.id, **changes)

    async def _process_visitor_message(self, conversation_id: str, message: Message,
                                       metadata: dict[str, Any], echoed: asyncio.Event) -> None:
        rasa_meta = {k: metadata[k] for k in METADATA_KEYS if k in metadata}
        rasa_meta["message_id"] = message.id
        async with self._lock(conversation_id):
            conversation = await self._conversation(conversation_id)
            if conversation.state == "bot":
                await self._ask_bot(conversation_id, message, rasa_meta, echoed)
                return
        # queued or with an agent: Rasa is paused; it logs the turn (intent included)
        async with self._lock(f"log:{conversation_id}"):
            try:
                replies = await self.rasa.send_message(conversation_id, message.text or "", rasa_meta)
                if replies:
                    # Rasa answered, so it is not paused (it was down when we paused it):
                    # pause it now; the replies are not shown while a person is in charge
                    log.info("conversation %s: Rasa was not paused; pausing again", conversation_id)
                    await self.rasa.pause(conversation_id)
            except Unavailable as exc:
                log.info("conversation %s: could not log a message in Rasa: %s", conversation_id, exc)

    async def _ask_bot(self, conversation_id: str, message: Message, rasa_meta: dict[str, Any],
                       echoed: asyncio.Event) -> None:
        """The bot's turn: the replies (or bot_unavailable), with the bot's typing indicator
        around them when Rasa takes longer than ``bot_typing_delay_s`` (a reply that comes
        sooner needs no indicator: it would only flicker, and cost two emits per turn).
        The webhook call starts at once, in this task; nothing is shown to the visitor
        before ``echoed`` is set, so they see their own message first."""
        self.metrics.messages.labels(direction="visitor_to_bot").inc()
        typing_shown = False

        async def show_typing() -> None:
            nonlocal typing_shown
            await asyncio.sleep(self.settings.bot_typing_delay_s)
            await echoed.wait()
            typing_shown = True     # before the emit: "off" follows even a half-sent "on"
            await self.out.visitor(conversation_id, "typing", {"from": "bot", "on": True})

        indicator = asyncio.ensure_future(show_typing())
        failure: Unavailable | None = None
        try:
            replies = await self.rasa.send_message(conversation_id, message.text or "", rasa_meta)
        except Unavailable as exc:
            failure, replies = exc, []
        except BaseException:
            indicator.cancel()
            raise
        if typing_shown:        # an "on" is going out or gone: let it finish, "off" follows it
            await asyncio.wait({indicator})
        else:
            indicator.cancel()
        await echoed.wait()
        if failure is not None:
            log.warning("conversation %s: Rasa unavailable (%s); queueing for a person", conversation_id, failure)
            if typing_shown:
                await self.out.visitor(conversation_id, "typing", {"from": "bot", "on": False})
            await self._system(conversation_id, "Our assistant is not available right now. "
                               "Let me connect you with a person.")
            await self.escalate(conversation_id, {"reason": "bot_unavailable", "topic": "general",
                                                  "detail": str(failure)})
            return
        try:
            delivered = await self._deliver_bot_replies(conversation_id, replies, message.id)
        finally:
            if typing_shown:    # after the replies, so that they are not held up by it
                await self.out.visitor(conversation_id, "typing", {"from": "bot", "on": False})
        if not delivered:
            await self._silent_turn(conversation_id, message.id)

    async def _silent_turn(self, conversation_id: str, message_id: str) -> None:
        """Rasa answered a visitor message with nothing. Our assistant answers every
        message, so the turn failed inside Rasa: its REST channel turns an error during
        the turn (a lock not acquired, an action server connection lost) into an empty
        200. The visitor is told, instead of waiting for an answer that never comes."""
        self.metrics.silent_turns.inc()
        log.warning("conversation %s: Rasa answered message %s with nothing", conversation_id, message_id)
        await self._system(conversation_id, "Sorry, I could not answer that just now. "
                           "Please say it again, or ask to talk to a person.")

    async def _deliver_bot_replies(self, conversation_id: str, replies: list[dict[str, Any]],
                                   message_id: str | None = None) -> bool:
        """Show Rasa's replies to the visitor message `message_id` (None: a turn without
        one, as after a hand back); False when there was nothing to show or do. Two
        custom payloads are never shown: a fallback report is recorded for the
        analytics, a handoff queues the chat."""
        shown = 0
        signal = None
        fallbacks: list[dict[str, Any]] = []
        for reply in replies:
            found = handoff_signal(reply)
            if found is not None:
                signal = found
                continue
            fallback = fallback_signal(reply)
            if fallback is not None:
                fallbacks.append(bot_reports.fallback_entry(fallback, message_id, self.clock()))
                continue
            for text, payload in rest_to_parts(reply):
                self.metrics.messages.labels(direction="bot_to_visitor").inc()
                await self._say(conversation_id, "bot", text, payload=payload)
                shown += 1
        if fallbacks:
            await self._record_fallbacks(conversation_id, fallbacks)
        if signal is not None:
            await self.escalate(conversation_id, signal)
        return bool(shown) or signal is not None

    async def _record_fallbacks(self, conversation_id: str, entries: list[dict[str, Any]]) -> None:
        """Add fallback turns to the conversation's meta while the bot has it. The write is
        a transition bot -> bot: if the conversation left the bot since it was read (a
        ticket, an escalation by another process), nothing is written, so the meta read
        before cannot overwrite what that change wrote (ticket_id, escalation_intent, ...)."""
        current = await self.store.get_conversation(conversation_id)
        if current is None:
            return
        updated = await self.store.transition(conversation_id, ("bot",), "bot",
                                              meta=bot_reports.with_fallbacks(current.meta, entries))
        if updated is None:
            log.info("conversation %s: left the bot; fallback not recorded", conversation_id)
            return
        log.info("conversation %s: fallback recorded (best guess %s)", conversation_id,
                 entries[-1]["intent"] or "none")

    async def visitor_typing(self, conversation_id: str, on: bool) -> None:
        conversation = await self._conversation(conversation_id)
        if conversation.state == "agent" and conversation.agent_id:
            await self.out.agent(conversation.agent_id, "visitor_typing",
                                 {"conversation_id": conversation_id, "on": on})

    async def leave_email(self, conversation_id: str, email: str, text: str | None) -> str:
        """Turn the conversation into a ticket for a follow-up by email."""
        if not EMAIL_RE.match(email):
            raise BadRequest("that does not look like an email address")
        ticket_id = new_ticket_id()
        current = await self._conversation(conversation_id)
        now = self.clock()
        conversation = await self.store.transition(
            conversation_id, ("bot", "queued"), "closed", email=email, ticket=True, closed_at=now,
            resolution="ticket", meta={**current.meta, "ticket_id": ticket_id, "ticket_message": text or ""})
        if conversation is None:
            raise Forbidden("an agent is already with you" if current.state == "agent"
                            else "this conversation is closed")
        await self.store.dequeue(conversation_id)
        if text:
            await self._append(conversation_id, "visitor", text)
        log.info("conversation %s became ticket %s", conversation_id, ticket_id)
        await self._system(conversation_id, f"Thank you! We will answer by email (ticket {ticket_id}).")
        await self.out.visitor(conversation_id, "conversation_state", await self.state_payload(conversation))
        await self.push_queue()
        return ticket_id

    async def rate(self, conversation_id: str, score: int, comment: str | None) -> None:
        conversation = await self._conversation(conversation_id)
        if conversation.state != "closed":
            raise Forbidden("a conversation can be rated once it is closed")
        if conversation.rating is not None:
            raise Forbidden("this conversation has already been rated")
        await self.store.update_conversation(conversation_id, rating=score, rating_comment=comment)
        log.info("conversation %s rated %d", conversation_id, score)

    async def state_payload(self, conversation: Conversation,
                            view: "QueueView | None" = None) -> dict[str, Any]:
        """The conversation_state event for a conversation (view: a queue snapshot to
        reuse when many payloads are built at once)."""
        payload: dict[str, Any] = {"state": conversation.state}
        if conversation.state in ("queued", "agent") and conversation.reason:
            payload["reason"] = conversation.reason
        if conversation.state == "queued":
            view = view or await self.queue_view()
            position = view.position(conversation.id)
            wait = queueing.expected_wait(position or 0, view.pickups, view.now, self.settings.default_wait_s)
            payload.update(position=position,
                           expected_wait_s=_coarse(wait) if view.answering else None,
                           agents_online=view.answering, in_business_hours=view.open)
        elif conversation.state == "agent" and conversation.agent_id:
            info = await self.lookup_agent(conversation.agent_id)
            payload["agent_name"] = info.name if info else "Agent"
        elif conversation.state == "closed":
            payload["rating_requested"] = conversation.rating is None
            if conversation.ticket:
                payload["ticket_id"] = conversation.meta.get("ticket_id")
        return payload

    # ------------------------------------------------------------------ queue

    async def queued_in_order(self) -> list[Conversation]:
        now = self.clock()
        found = [c for c in await self.store.get_conversations(await self.store.queue())
                 if c.state == "queued"]
        return queueing.serving_order(found, now, self.settings.priority_aging_s)

    async def agents_available(self) -> bool:
        """Someone could answer: an agent is online or away."""
        now = self.clock()
        return any(self.present(s, now) for s in await self.store.agent_statuses())

    async def queue_view(self) -> "QueueView":
        """One snapshot of the queue, the recent pick-ups and who could answer."""
        now = self.clock()
        is_open = self.hours.is_open(now)
        return QueueView(now=now, order=await self.queued_in_order(),
                         pickups=await self.store.recent_pickups(now - self.settings.pickup_window_s),
                         open=is_open, answering=is_open and await self.agents_available())

    async def queue_payload(self, limit: int | None = None) -> dict[str, Any]:
        """The queue as agents see it: the first `limit` entries (all when None) and the
        total, so that a flood of escalations cannot make every push enormous."""
        now = self.clock()
        order = await self.queued_in_order()
        return {"queue": [
            {"conversation_id": c.id, "reason": c.reason, "topic": c.topic,
             "priority": queueing.effective_priority(c, now, self.settings.priority_aging_s),
             "waiting_s": round(max(0.0, now - (c.queued_at or now)), 1),
             "summary": self._mask(c.summary), "position": i + 1}
            for i, c in enumerate(order[:limit] if limit is not None else order)], "total": len(order)}

    async def push_queue(self) -> None:
        """Tell every agent the queue, and every queued visitor a changed position.

        Coalesced: while a push runs, further requests only ask for one more push after
        it, so a burst of claims or escalations costs a few pushes, not one each."""
        if self._push_running:
            self._push_again = True
            return
        self._push_running = True
        try:
            while True:
                self._push_again = False
                await self.out.agents("queue", await self.queue_payload(QUEUE_PUSH_LIMIT))
                self._queue_pushed_at = self.clock()
                await self.push_positions()
                if not self._push_again:
                    break
        finally:
            self._push_running = False

    async def push_positions(self) -> None:
        """conversation_state to queued visitors whose position or estimate changed, by
        the process holding their socket (each process pushes its own every tick)."""
        view = await self.queue_view()
        seen = set()
        for conversation in view.order:
            if self.local_session is not None and not self.local_session(conversation.id):
                continue
            seen.add(conversation.id)
            state = await self.state_payload(conversation, view)
            key = (state.get("position"), state.get("expected_wait_s"))
            if self._sent_positions.get(conversation.id) != key:
                self._sent_positions[conversation.id] = key
                await self.out.visitor(conversation.id, "conversation_state", state,
                                       local=self.local_session is not None)
        for stale in set(self._sent_positions) - seen:
            self._sent_positions.pop(stale, None)

    async def escalate(self, conversation_id: str, signal: dict[str, Any]) -> Conversation | None:
        """bot -> queued: pause Rasa, queue with reason/topic/priority, tell the visitor.

        The signal's intent and articles (validated) go into the conversation's meta in
        the same atomic step, the other meta keys kept as read just before it."""
        reason = queueing.normalize_reason(signal.get("reason"))
        topic = queueing.normalize_topic(signal.get("topic"))
        current = await self.store.get_conversation(conversation_id)
        if current is None:
            return None
        now = self.clock()
        conversation = await self.store.transition(
            conversation_id, ("bot",), "queued", reason=reason, topic=topic,
            detail=str(signal.get("detail") or "")[:2000], summary=str(signal.get("summary") or "")[:2000],
            priority=queueing.base_priority(reason), queued_at=now,
            meta=bot_reports.with_escalation(current.meta, signal))
        if conversation is None:
            return None
        # pausing Rasa must not delay the visitor's queue place (Rasa may be the reason for
        # escalating: down or hanging); the log lock keeps it before later tracker writes
        self.spawn(self._pause_rasa(conversation_id), f"pause Rasa for {conversation_id}")
        await self.store.enqueue(conversation_id, conversation.priority, now)
        self.metrics.handoffs.labels(reason=reason).inc()
        log.info("conversation %s queued: reason=%s topic=%s", conversation_id, reason, topic)
        await self._announce_queued(conversation)
        await self.push_queue()
        await self.assign_pending()
        return conversation

    async def _pause_rasa(self, conversation_id: str) -> None:
        async with self._lock(f"log:{conversation_id}"):
            try:
                await self.rasa.pause(conversation_id)
            except Unavailable as exc:
                log.info("conversation %s: could not pause Rasa: %s", conversation_id, exc)

    async def _announce_queued(self, conversation: Conversation) -> None:
        state = await self.state_payload(conversation)
        if not state.get("in_business_hours", True):
            text = ("Our team is outside business hours right now. Leave your email address "
                    "and we will get back to you, or stay here and wait.")
        elif not state.get("agents_online"):
            text = ("No agent is online right now. Leave your email address and we will get "
                    "back to you, or stay here: you are in the queue.")
        else:
            minutes = max(1, round((state.get("expected_wait_s") or 0) / 60))
            text = (f"You are number {state.get('position')} in the queue; "
                    f"the expected wait is about {minutes} minute{'s' if minutes != 1 else ''}.")
        await self._system(conversation.id, text)
        self._sent_positions[conversation.id] = (state.get("position"), state.get("expected_wait_s"))
        await self.out.visitor(conversation.id, "conversation_state", state)

    # ------------------------------------------------------------------ agents

    async def agent_status(self, agent: AgentInfo, status: str) -> None:
        """Presence: online agents get chats automatically; away agents only by claim."""
        if status not in ("online", "away", "offline"):
            raise BadRequest("status must be online, away or offline")
        await self.store.set_agent_status(AgentStatus(
            agent_id=agent.id, status=status, teams=tuple(agent.teams), capacity=agent.capacity,
            last_seen=self.clock()))
        log.info("agent %s is %s", agent.id, status)
        if status == "online":
            await self.assign_pending()
        await self.push_positions()

    async def owned(self, agent_id: str, conversation_id: str) -> Conversation:
        conversation = await self._conversation(conversation_id)
        if conversation.state != "agent" or conversation.agent_id != agent_id:
            raise Forbidden("this conversation is not yours")
        return conversation

    async def assigned_payload(self, conversation_id: str) -> dict[str, Any]:
        """conversation + handoff packet + log, as an agent sees them (PII masked)."""
        conversation = await self._conversation(conversation_id)
        log_ = await self.recent_log(conversation_id)
        try:
            tracker = await self.rasa.tracker(conversation_id)
        except Unavailable:
            tracker = None
        earlier = []
        if conversation.visitor_id:
            earlier = [c for c in await self.store.list_conversations(
                visitor_id=conversation.visitor_id, limit=self.settings.history_conversations + 1)
                if c.id != conversation_id][: self.settings.history_conversations]
        packet = build_packet(conversation, tracker=tracker, log=log_, earlier=earlier,
                              mask_pii=self.settings.mask_pii)
        messages = [to_agent_wire(m) for m in log_]
        if self.settings.mask_pii:
            for m in messages:
                if isinstance(m.get("text"), str):
                    m["text"] = mask(m["text"])
        return {"conversation": await self.conversation_view(conversation), "packet": packet,
                "messages": messages}

    async def conversation_view(self, c: Conversation) -> dict[str, Any]:
        view = {"id": c.id, "state": c.state, "reason": c.reason, "topic": c.topic,
                "priority": c.priority, "created_at": c.created_at, "queued_at": c.queued_at,
                "assigned_at": c.assigned_at, "closed_at": c.closed_at, "agent_id": c.agent_id,
                "visitor_id": c.visitor_id, "summary": self._mask(c.summary),
                "detail": self._mask(c.detail), "page_url": c.page_url, "user_agent": c.user_agent,
                "email": self._mask(c.email) if c.email else None, "ticket": c.ticket,
                "resolution": c.resolution, "rating": c.rating}
        if c.agent_id:
            info = await self.lookup_agent(c.agent_id)
            view["agent_name"] = info.name if info else None
        return view

    async def claim(self, agent: AgentInfo, conversation_id: str) -> None:
        """Manual claim from the queue; atomic, so of racing agents exactly one wins."""
        conversation = await self._conversation(conversation_id)
        if conversation.state != "queued":
            raise Forbidden("this conversation is not waiting in the queue")
        # capacity is checked in the same atomic step as the claim: two bridge processes
        # cannot both push this agent over capacity
        if not await self.store.claim_if_room(conversation_id, agent.id, agent.capacity):
            after = await self.store.get_conversation(conversation_id)
            if after is not None and after.state == "queued":
                raise Forbidden("you are at capacity")
            raise Forbidden("someone else took this conversation")
        await self._on_assigned(conversation, agent.id, "claim")

    async def assign_pending(self) -> None:
        """Offer queued conversations to the least busy online agents with the skill."""
        if not self.settings.auto_assign:
            return
        now = self.clock()
        statuses = {s.agent_id: s for s in await self.store.agent_statuses()
                    if s.status == "online" and self.present(s, now)}
        if not statuses:
            return
        for conversation in await self.queued_in_order():
            avoid = conversation.meta.get("avoid_agents") or ()
            agent_id = queueing.choose_agent(conversation, statuses.values(), now,
                                             self.settings.skill_fallback_s, avoid)
            if agent_id is None:
                continue
            if await self.store.claim_if_room(conversation.id, agent_id, statuses[agent_id].capacity):
                s = statuses[agent_id]
                statuses[agent_id] = AgentStatus(agent_id=s.agent_id, status=s.status, teams=s.teams,
                                                 capacity=s.capacity, active=s.active + 1, last_seen=s.last_seen)
                await self._on_assigned(conversation, agent_id, "auto")

    async def _on_assigned(self, queued: Conversation, agent_id: str, how: str) -> None:
        now = self.clock()
        waited = max(0.0, now - (queued.queued_at or now))
        await self.store.record_pickup(waited, now)
        self.metrics.queue_wait.observe(waited)
        conversation = await self.store.update_conversation(
            queued.id, meta={**queued.meta, "answered_by": None, "assigned_how": how})
        info = await self.lookup_agent(agent_id)
        name = info.name if info else "An agent"
        self._sent_positions.pop(queued.id, None)
        log.info("conversation %s assigned to agent %s (%s, waited %.0fs)", queued.id, agent_id, how, waited)
        await self._system(queued.id, f"{name} has joined the chat.")
        await self.out.visitor(queued.id, "conversation_state", await self.state_payload(conversation))
        await self.out.agent(agent_id, "assigned", await self.assigned_payload(queued.id))
        await self.push_queue()

    async def agent_message(self, agent: AgentInfo, conversation_id: str, text: str,
                            client_id: str | None) -> Message:
        conversation = await self.owned(agent.id, conversation_id)
        message, duplicate = await self._append(
            conversation_id, "agent", text, client_id=f"agent:{client_id}" if client_id else None,
            agent_id=agent.id, agent_name=agent.name)
        if duplicate:
            return message
        self.metrics.messages.labels(direction="agent_to_visitor").inc()
        await self.out.visitor(conversation_id, "bot_uttered", to_wire(message))
        # every console tab of this agent sees the reply (the sending tab de-duplicates
        # by client_id / id)
        await self.out.agent(agent.id, "agent_message", {
            "conversation_id": conversation_id, "id": message.id, "client_id": client_id,
            "text": text, "ts": message.ts, "agent_id": agent.id, "agent_name": agent.name})
        changes: dict[str, Any] = {}
        if conversation.first_agent_reply_at is None:
            changes["first_agent_reply_at"] = message.ts
        if conversation.meta.get("answered_by") != agent.id:
            changes["meta"] = {**conversation.meta, "answered_by": agent.id}
        if changes:
            await self.store.update_conversation(conversation_id, **changes)
        self.spawn(self._log_agent_message(conversation_id, agent, text, message.id),
                   f"agent message {message.id} to Rasa")
        return message

    async def _log_agent_message(self, conversation_id: str, agent: AgentInfo, text: str, message_id: str) -> None:
        async with self._lock(f"log:{conversation_id}"):  # keeps the tracker in order
            try:
                await self.rasa.add_bot_message(conversation_id, text, {
                    "agent_id": agent.id, "agent_name": agent.name, "message_id": message_id})
            except Unavailable as exc:
                log.warning("conversation %s: agent message %s not written to Rasa: %s",
                            conversation_id, message_id, exc)

    async def agent_typing(self, agent: AgentInfo, conversation_id: str, on: bool) -> None:
        await self.owned(agent.id, conversation_id)
        await self.out.visitor(conversation_id, "typing", {"from": "agent", "on": on, "agent_name": agent.name})

    async def note(self, agent: AgentInfo, conversation_id: str, text: str) -> Message:
        """An internal note: logged for agents, never shown to the visitor. Only the agent
        who owns the chat may write one (no agent writes into a colleague's chat)."""
        await self.owned(agent.id, conversation_id)
        message, _ = await self._append(conversation_id, "note", text, agent_id=agent.id, agent_name=agent.name)
        return message

    async def flag(self, agent: AgentInfo, conversation_id: str, message_id: str, note: str) -> None:
        await self._conversation(conversation_id)
        await self.store.add_flag(conversation_id, message_id, agent.id, note, self.clock())
        log.info("conversation %s: message %s flagged by %s", conversation_id, message_id, agent.id)

    async def hand_back(self, agent: AgentInfo, conversation_id: str, intent: str | None) -> None:
        """agent -> bot: Rasa resumes; an optional intent makes the bot continue."""
        async with self._lock(conversation_id):
            await self.owned(agent.id, conversation_id)
            # reason and topic stay: the record keeps that a person was involved.
            # release_to: no crash can leave the chat in 'agent' without an agent
            conversation = await self.store.release_to(conversation_id, agent.id, "bot", priority=0)
            if conversation is None:
                raise Forbidden("this conversation is not yours")
            log.info("conversation %s handed back to the bot by %s", conversation_id, agent.id)
            await self._system(conversation_id, "You are back with our assistant.")
            await self.out.visitor(conversation_id, "conversation_state", await self.state_payload(conversation))
            await self.out.agent(agent.id, "conversation_update", {"conversation_id": conversation_id, "state": "bot"})
            try:
                await self.rasa.resume(conversation_id)
                if intent:
                    replies = await self.rasa.trigger_intent(conversation_id, intent)
                    await self._deliver_bot_replies(conversation_id, replies)
            except Unavailable as exc:
                log.warning("conversation %s: Rasa did not resume: %s", conversation_id, exc)
        await self.push_queue()

    async def close(self, agent: AgentInfo, conversation_id: str, resolution: str) -> None:
        """agent -> closed: the visitor is asked for a rating."""
        async with self._lock(conversation_id):
            await self.owned(agent.id, conversation_id)
            conversation = await self.store.release_to(
                conversation_id, agent.id, "closed", closed_at=self.clock(),
                resolution=(resolution or "resolved")[:200])
            if conversation is None:
                raise Forbidden("this conversation is not yours")
            log.info("conversation %s closed by %s", conversation_id, agent.id)
            await self._system(conversation_id, "This chat is closed. How did we do? "
                               "Please rate us from 1 to 5.")
            await self.out.visitor(conversation_id, "conversation_state", await self.state_payload(conversation))
            await self.out.agent(agent.id, "conversation_update",
                                 {"conversation_id": conversation_id, "state": "closed",
                                  "resolution": conversation.resolution})
        await self.push_queue()

    async def transfer(self, agent: AgentInfo, conversation_id: str, to_agent: str | None,
                       team: str | None) -> None:
        """Give the chat to another agent (directly) or team (through the queue)."""
        if not to_agent and not team:
            raise BadRequest("transfer needs agent_id or team")
        target: AgentInfo | None = None
        if to_agent:
            if to_agent == agent.id:
                raise BadRequest("you cannot transfer to yourself")
            target = await self.lookup_agent(to_agent)
            status = await self.store.get_agent_status(to_agent)
            if target is None:
                raise NotFound("no such agent")
            if status is None or status.status == "offline":
                raise Forbidden("that agent is offline")
            if status.active >= target.capacity:
                raise Forbidden("that agent is at capacity")
        async with self._lock(conversation_id):
            current = await self.owned(agent.id, conversation_id)
            now = self.clock()
            changes: dict[str, Any] = {"priority": current.priority + queueing.TRANSFER_BONUS,
                                       "queued_at": now,
                                       "meta": {**current.meta, "avoid_agents": [agent.id],
                                                "transferred_from": agent.id}}
            if team:
                changes["topic"] = queueing.normalize_topic(team)
            # released, re-queued (with its new priority) in one atomic step
            conversation = await self.store.release_to(conversation_id, agent.id, "queued", **changes)
            if conversation is None:
                raise Forbidden("this conversation is not yours")
            log.info("conversation %s transferred by %s to %s", conversation_id, agent.id, to_agent or f"team {team}")
            await self.out.agent(agent.id, "conversation_update",
                                 {"conversation_id": conversation_id, "state": "queued", "transferred": True})
            if target is not None and await self.store.claim_if_room(conversation_id, target.id,
                                                                     target.capacity):
                await self._system(conversation_id, "You are being transferred to a colleague.")
                await self._on_assigned(conversation, target.id, "transfer")
                return
            await self._system(conversation_id, "You are being transferred to the right team; "
                               "please stay with us.")
            await self._announce_queued(conversation)
        await self.push_queue()
        await self.assign_pending()

    async def requeue(self, conversation: Conversation, cause: str) -> bool:
        """Take a chat back from an agent who did not answer or went away."""
        agent_id = conversation.agent_id
        if not agent_id:
            return False
        now = self.clock()
        avoid = list(dict.fromkeys([*(conversation.meta.get("avoid_agents") or []), agent_id]))
        updated = await self.store.release_to(
            conversation.id, agent_id, "queued", priority=conversation.priority + queueing.REQUEUE_BONUS,
            queued_at=now, meta={**conversation.meta, "avoid_agents": avoid, "requeued": cause})
        if updated is None:
            return False
        self.metrics.reassignments.labels(cause=cause).inc()
        log.info("conversation %s taken back from agent %s (%s)", conversation.id, agent_id, cause)
        await self.out.agent(agent_id, "conversation_update",
                             {"conversation_id": conversation.id, "state": "queued", "reason": cause})
        await self._system(conversation.id, "Sorry for the wait: we are finding another agent for you.")
        await self._announce_queued(updated)
        return True

    # ------------------------------------------------------------------ watchdog

    async def tick(self) -> None:
        """Periodic duties: agents who do not answer or stay away lose their chats,
        the queue is offered to agents, visitors see their position move."""
        now = self.clock()
        for key in [k for k, lock in self._locks.items() if not lock.locked()]:
            del self._locks[key]
        changed = False
        for agent_id in list(self.local_agents()):
            # read just before writing, so that a presence change is not overwritten with an
            # old value (set_agent_status writes the whole record)
            status = await self.store.get_agent_status(agent_id)
            if status is not None:
                await self.store.set_agent_status(AgentStatus(
                    agent_id=agent_id, status=status.status, teams=status.teams,
                    capacity=status.capacity, active=status.active, last_seen=self.clock()))
        held = await self.store.list_conversations(state="agent")
        statuses = {s.agent_id: s for s in await self.store.agent_statuses()}   # read after `held`
        for conversation in held:
            agent_id = conversation.agent_id
            if not agent_id:
                continue
            status = statuses.get(agent_id)
            if self._gone(status, now):
                # on a busy process the snapshot may be seconds old: decide on a fresh read
                status = await self.store.get_agent_status(agent_id)
                if not self._gone(status, self.clock()):
                    continue
                log.info("agent %s counts as gone (%s)", agent_id,
                         f"{status.status}, last seen {self.clock() - status.last_seen:.1f}s ago"
                         if status else "no status")
                changed |= await self.requeue(conversation, "agent_disconnected")
            elif conversation.meta.get("answered_by") != agent_id and \
                    now - (conversation.assigned_at or now) > self.settings.agent_answer_timeout_s:
                changed |= await self.requeue(conversation, "agent_no_answer")
        await self.assign_pending()
        if changed or (now - self._queue_pushed_at >= QUEUE_REFRESH_S and await self.store.queue()):
            await self.out.agents("queue", await self.queue_payload(QUEUE_PUSH_LIMIT))
            self._queue_pushed_at = now
        await self.push_positions()

    def _gone(self, status: AgentStatus | None, now: float) -> bool:
        """The agent's chats go back to the queue: offline for the grace period, or
        "online"/"away" but refreshed by no live process for as long (its bridge process
        was killed), or no status at all."""
        if status is None:
            return True
        if status.status == "offline":
            return now - status.last_seen > self.settings.agent_disconnect_grace_s
        return not self.present(status, now)

    async def run_watchdog(self) -> None:
        """The background loop behind tick(); started by the app's cleanup context."""
        while True:
            await asyncio.sleep(self.settings.assign_interval_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep the loop alive (e.g. Redis blip)
                log.exception("watchdog tick failed")
