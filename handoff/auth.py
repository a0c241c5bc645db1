"""Agent authentication: password login and signed session tokens.

Login checks the password against the agent's argon2 hash (argon2 compares in constant
time). An unknown username costs the same work (a hash with the same parameters is
checked) and gets the same error as a wrong password, so the answer does not tell
whether a username exists.

Tokens are JWTs signed with HS256 under the bridge's secret (settings.secret), carrying
the agent id (`sub`), a random token id (`jti`), `iat` and `exp`. Logout revokes the
`jti` in the store until the token would have expired anyway; the store shares
revocations between bridge processes and keeps them across restarts (Redis).
Store failures (StoreError) are not turned into AuthError: the caller answers
'unavailable' rather than letting a token through or logging an agent out.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
import time
from typing import Mapping

import jwt
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .agents import Agent
from .errors import Unauthorized
from .store.base import Store

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "handoff-bridge"


class AuthError(Unauthorized):
    """Login or token refused (HTTP 401, wire code 'unauthorized'). The message is safe
    to show: it never says whether a username exists."""


class TokenExpired(AuthError):
    """The token was valid but its time is over: the agent logs in again."""


BAD_LOGIN = "invalid username or password"

_dummy_hashes: dict[tuple, str] = {}


def _dummy_hash_like(real_hash: str | None) -> str:
    """A hash of a random password with the same argon2 parameters as real_hash (or the
    defaults), cached, so that checking it costs what checking a real one costs."""
    try:
        params = extract_parameters(real_hash) if real_hash else None
    except InvalidHashError:
        params = None
    key = dataclasses.astuple(params) if params else ()
    if key not in _dummy_hashes:
        hasher = PasswordHasher.from_parameters(params) if params else PasswordHasher()
        _dummy_hashes[key] = hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


async def prepare(agents: Mapping[str, Agent]) -> None:
    """Compute the stand-in hash for unknown usernames ahead of time (call at start-up),
    so that the first login with an unknown username does not take longer than others."""
    sample = next(iter(agents.values()), None)
    await asyncio.to_thread(_dummy_hash_like, sample.password_hash if sample else None)


def authenticate(agents: Mapping[str, Agent], username: str, password: str) -> Agent:
    """The agent whose username and password these are; AuthError otherwise, with one
    message for every cause. CPU-heavy (argon2): from async code use `login`."""
    agent = agents.get(username) if isinstance(username, str) else None
    if agent is None:
        sample = next(iter(agents.values()), None)
        _verify(_dummy_hash_like(sample.password_hash if sample else None), password)
        log.info("login refused: unknown username")
        raise AuthError(BAD_LOGIN)
    if not _verify(agent.password_hash, password):
        log.info("login refused for agent %s: wrong password", agent.id)
        raise AuthError(BAD_LOGIN)
    return agent


def _verify(password_hash: str, password: str) -> bool:
    if not isinstance(password, str) or not password:
        password = "\0"     # still do the work: an empty password must not answer faster
    try:
        return PasswordHasher().verify(password_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        log.warning("an agent's password hash cannot be checked (corrupt hash?)")
        return False


async def login(agents: Mapping[str, Agent], username: str, password: str, *, secret: str,
                ttl_s: float) -> tuple[Agent, str, float]:
    """Check the password (in a worker thread: argon2 takes tens of milliseconds) and
    issue a token: (agent, token, expires_at). AuthError when refused."""
    agent = await asyncio.to_thread(authenticate, agents, username, password)
    token, expires_at = issue_token(agent, secret, ttl_s)
    log.info("agent %s logged in", agent.id)
    return agent, token, expires_at


def _check_secret(secret: str) -> None:
    if not secret:
        raise ValueError("no token secret configured (HANDOFF_SECRET)")


def issue_token(agent: Agent | str, secret: str, ttl_s: float) -> tuple[str, float]:
    """A signed token for the agent (an Agent or its id), valid ttl_s seconds:
    (token, expires_at as Unix time). ValueError for an empty secret or ttl_s <= 0."""
    _check_secret(secret)
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    agent_id = agent.id if isinstance(agent, Agent) else agent
    now = time.time()
    expires_at = float(math.ceil(now + ttl_s))
    claims = {"sub": agent_id, "jti": secrets.token_urlsafe(16), "iat": int(now),
              "exp": int(expires_at), "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires_at


def _decode(token: str, secret: str) -> dict:
    _check_secret(secret)
    if not isinstance(token, str) or not token:
        raise AuthError("missing token")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "jti", "exp", "iat", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid token") from exc
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
        raise AuthError("invalid token")
    return claims


async def verify_claims(token: str, secret: str, store: Store) -> dict:
    """The claims of a valid token (``sub``, ``jti``, ``exp`` ...); AuthError as
    verify_token. Sockets keep ``jti`` and ``exp`` to be dropped on logout or expiry."""
    claims = _decode(token, secret)
    if await store.is_token_revoked(claims["jti"]):
        raise AuthError("token revoked")
    return claims


async def verify_token(token: str, secret: str, store: Store) -> str:
    """The agent id a valid token was issued to. AuthError when the signature is wrong,
    the token has expired or it was revoked (logout). The caller should still check that
    the agent exists (an account may have been removed)."""
    return (await verify_claims(token, secret, store))["sub"]


def token_id(token: str, secret: str) -> str | None:
    """The ``jti`` of a token this bridge signed (expired or not); None otherwise."""
    try:
        return _decode(token, secret)["jti"]
    except TokenExpired:
        try:
            return jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                              options={"verify_exp": False})["jti"]
        except (jwt.InvalidTokenError, KeyError):
            return None
    except AuthError:
        return None


async def revoke(token: str, secret: str, store: Store) -> None:
    """Log out: the token stops working, in every bridge process sharing the store.
    AuthError for a token this bridge did not sign; an expired one needs nothing."""
    try:
        claims = _decode(token, secret)
    except TokenExpired:
        return
    await store.revoke_token(claims["jti"], float(claims["exp"]))
    log.info("token of agent %s revoked", claims["sub"])
