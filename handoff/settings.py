"""The bridge's configuration: one frozen object read from the environment.

Every setting is an environment variable with the prefix ``HANDOFF_`` (for example
``HANDOFF_PORT=8080``). The object is frozen so no part of the bridge can change the
configuration behind another part's back; tests build their own with keyword arguments.
docs/bridge.md lists every setting with its default.
"""
from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_list(value: object) -> object:
    """Accept "a,b,c" (environment) as well as a real list (code)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _rasa_base_url(value: str) -> str:
    """One Rasa base URL, checked (http or https, a host, no query) and without a trailing slash."""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0           # .port raises ValueError when malformed
    except ValueError as exc:
        raise ValueError(f"HANDOFF_RASA_URL: {value!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok \
            or parts.query or parts.fragment:
        raise ValueError(f"HANDOFF_RASA_URL: {value!r} is not an http(s) base URL of a Rasa server "
                         "(like http://127.0.0.1:5005; several are separated by commas)")
    return url


class Settings(BaseSettings):
    """All settings of the bridge; see docs/bridge.md for what each one does."""

    model_config = SettingsConfigDict(env_prefix="HANDOFF_", frozen=True, extra="ignore")

    # where the bridge runs
    environment: Literal["dev", "prod"] = "dev"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"   # uvloop: libuv's faster event loop

    # Rasa (HTTP API, started with --enable-api --auth-token); several servers: "url1,url2"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    rasa_timeout_s: float = 10.0
    rasa_retry_down_s: float = Field(5.0, ge=0)  # a server that failed goes last for this long
    bot_typing_delay_s: float = Field(0.3, ge=0)  # show the bot typing only for slower turns

    # state
    store_url: str = ""                     # "" = embedded (one process); redis://host:port/db
    store_prefix: str = "handoff:"
    socketio_channel: str = "handoff-socketio"

    # agents and their tokens
    agents_file: str = "var/agents.yml"
    secret: str = ""                        # signs agent tokens; required when environment=prod
    token_ttl_s: int = 8 * 3600

    # web
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    static_dir: str = "widget"
    trust_proxy: bool = False               # take the client IP from X-Forwarded-For

    # business hours: "mon-fri 09:00-17:00; sat 10:00-14:00"; "" = always open
    business_hours: str = ""
    timezone: str = "UTC"

    # what agents see
    mask_pii: bool = True
    history_conversations: int = 5          # earlier conversations shown in the packet

    # knowledge base for article suggestions
    kb_path: str = "data/kb"

    # limits
    max_message_chars: int = 2000
    max_payload_bytes: int = 16_384         # one Socket.IO event's JSON
    max_packet_bytes: int = 1_000_000       # engine.io hard limit: larger packets drop the socket
    max_http_body_bytes: int = 65_536
    rate_window_s: float = 10.0
    rate_session_messages: int = 20         # visitor events per session per window
    rate_ip_messages: int = 60              # visitor events per client IP per window
    rate_ip_sessions: int = 20              # new sessions per client IP per window
    rate_login_attempts: int = 10           # login attempts per IP per window

    # queue and agents
    auto_assign: bool = True
    assign_interval_s: float = 1.0          # how often the watchdog looks at the queue
    agent_answer_timeout_s: float = 120.0   # assigned but no first answer: back to the queue
    agent_disconnect_grace_s: float = 60.0  # agent gone this long: chats back to the queue
    skill_fallback_s: float = 120.0         # waited this long: any agent may get it
    priority_aging_s: float = 120.0         # +1 priority per this many seconds waited
    default_wait_s: float = 120.0           # expected wait per queue place without history
    pickup_window_s: float = 1800.0         # pick-ups this recent estimate the wait

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("rasa_url", mode="before")
    @classmethod
    def _rasa_url_list(cls, value: object) -> object:
        """A list as "url1, url2/" (environment) or a real list (code) -> "url1,url2": checked, no trailing
        slashes, at least one, no duplicates. Stored as one string so the object stays a
        plain frozen value; rasa_urls gives the list."""
        parts = _split_list(value)
        if not isinstance(parts, (list, tuple)):
            return value
        urls = [_rasa_base_url(str(part)) for part in parts]
        if not urls:
            raise ValueError("HANDOFF_RASA_URL is empty: give at least one Rasa server URL "
                             "(like http://127.0.0.1:5005)")
        duplicates = sorted({url for url in urls if urls.count(url) > 1})
        if duplicates:
            raise ValueError(f"HANDOFF_RASA_URL lists {', '.join(duplicates)} more than once")
        return ",".join(urls)

    @property
    def rasa_urls(self) -> tuple[str, ...]:
        """The Rasa servers, in the order given (affinity does not depend on this order)."""
        return tuple(self.rasa_url.split(","))

    @property
    def uses_redis(self) -> bool:
        """True when state is shared through Redis (several bridge processes)."""
        return bool(self.store_url) and self.store_url != "memory://"
