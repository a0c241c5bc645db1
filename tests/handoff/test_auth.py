"""Agent login and tokens (handoff/auth.py): who gets in, and what stops working when."""
from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from argon2 import PasswordHasher, extract_parameters

from handoff import auth
from handoff.agents import Agent, hash_password
from handoff.auth import (BAD_LOGIN, AuthError, TokenExpired, authenticate, issue_token, login,
                          revoke, verify_token)
from handoff.errors import Unauthorized
from handoff.store import StoreError
from handoff.store.memory import EmbeddedStore

SECRET = "s" * 40
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def agents():
    return {
        "alice": Agent(id="alice", name="Alice", teams=("billing",), capacity=2,
                       password_hash=hash_password("correct horse", FAST)),
        "bob": Agent(id="bob", name="Bob", password_hash=hash_password("battery staple", FAST)),
    }


@pytest.fixture
def store():
    return EmbeddedStore()


def test_auth_error_is_the_bridge_unauthorized_error():
    assert issubclass(AuthError, Unauthorized) and issubclass(TokenExpired, AuthError)
    assert (AuthError("x").status, AuthError("x").code) == (401, "unauthorized")


def test_right_password_authenticates(agents):
    assert authenticate(agents, "alice", "correct horse") is agents["alice"]
    assert authenticate(agents, "bob", "battery staple") is agents["bob"]


@pytest.mark.parametrize("username, password", [
    ("alice", "wrong"), ("alice", "battery staple"), ("alice", ""), ("alice", "Correct horse"),
    ("nobody", "correct horse"), ("", ""), ("ALICE", "correct horse"), (None, "x"),
])
def test_wrong_password_and_unknown_user_get_the_same_answer(agents, username, password):
    with pytest.raises(AuthError) as info:
        authenticate(agents, username, password)
    assert str(info.value) == BAD_LOGIN
    assert type(info.value) is AuthError


def test_unknown_user_costs_one_argon2_check_like_a_known_one(agents, monkeypatch):
    """The answer time must not tell whether a username exists: both paths verify one
    hash with the same argon2 parameters."""
    checked: list[str] = []
    real_verify = PasswordHasher.verify

    def spy(self, password_hash, password):
        checked.append(password_hash)
        return real_verify(self, password_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    with pytest.raises(AuthError):
        authenticate(agents, "alice", "wrong")
    with pytest.raises(AuthError):
        authenticate(agents, "mallory", "wrong")
    assert len(checked) == 2
    assert checked[0] == agents["alice"].password_hash
    assert checked[1] not in {a.password_hash for a in agents.values()}
    assert extract_parameters(checked[1]) == extract_parameters(checked[0])


def test_no_agents_at_all_still_refuses():
    with pytest.raises(AuthError):
        authenticate({}, "alice", "x")


@pytest.mark.asyncio
async def test_login_issues_a_token_that_verifies(agents, store):
    agent, token, expires_at = await login(agents, "alice", "correct horse", secret=SECRET,
                                           ttl_s=3600)
    assert agent is agents["alice"]
    assert time.time() + 3590 < expires_at <= time.time() + 3601
    assert await verify_token(token, SECRET, store) == "alice"


@pytest.mark.asyncio
async def test_login_refuses_wrong_password(agents):
    with pytest.raises(AuthError, match=BAD_LOGIN):
        await login(agents, "alice", "nope", secret=SECRET, ttl_s=60)


@pytest.mark.asyncio
async def test_prepare_precomputes_the_stand_in_hash(agents, monkeypatch):
    monkeypatch.setattr(auth, "_dummy_hashes", {})
    await auth.prepare(agents)
    assert len(auth._dummy_hashes) == 1


def test_token_claims():
    token, expires_at = issue_token("alice", SECRET, 60)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=auth.ISSUER)
    assert claims["sub"] == "alice" and claims["exp"] == expires_at
    assert len(claims["jti"]) >= 16
    other, _ = issue_token("alice", SECRET, 60)
    assert jwt.decode(other, SECRET, algorithms=["HS256"], issuer=auth.ISSUER)["jti"] != claims["jti"]


def test_issue_token_refuses_no_secret_or_ttl():
    with pytest.raises(ValueError):
        issue_token("alice", "", 60)
    with pytest.raises(ValueError):
        issue_token("alice", SECRET, 0)


@pytest.mark.asyncio
async def test_expired_token_is_refused(store):
    now = int(time.time())
    token = jwt.encode({"sub": "alice", "jti": "j1", "iat": now - 120, "exp": now - 60,
                        "iss": auth.ISSUER}, SECRET, algorithm="HS256")
    with pytest.raises(TokenExpired):
        await verify_token(token, SECRET, store)


@pytest.mark.asyncio
async def test_short_lived_token_expires(store):
    token, expires_at = issue_token("alice", SECRET, 0.5)
    assert await verify_token(token, SECRET, store) == "alice"
    await asyncio.sleep(max(expires_at - time.time(), 0) + 1.1)
    with pytest.raises(TokenExpired):
        await verify_token(token, SECRET, store)


@pytest.mark.asyncio
async def test_token_signed_with_another_secret_is_refused(store):
    forged, _ = issue_token("alice", "another secret of enough length........", 60)
    with pytest.raises(AuthError, match="invalid token"):
        await verify_token(forged, SECRET, store)


@pytest.mark.asyncio
async def test_tampered_and_unsigned_tokens_are_refused(store):
    token, _ = issue_token("alice", SECRET, 60)
    header, payload, signature = token.split(".")
    other_payload = issue_token("bob", SECRET, 60)[0].split(".")[1]
    unsigned = jwt.encode({"sub": "alice", "jti": "j", "iat": int(time.time()),
                           "exp": int(time.time()) + 60, "iss": auth.ISSUER}, None,
                          algorithm="none")
    for bad in [f"{header}.{other_payload}.{signature}", token[:-3], unsigned, "", "x.y.z",
                None]:
        with pytest.raises(AuthError):
            await verify_token(bad, SECRET, store)


@pytest.mark.asyncio
async def test_tokens_without_required_claims_are_refused(store):
    now = int(time.time())
    full = {"sub": "alice", "jti": "j1", "iat": now, "exp": now + 60, "iss": auth.ISSUER}
    for missing in full:
        claims = {k: v for k, v in full.items() if k != missing}
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        with pytest.raises(AuthError):
            await verify_token(token, SECRET, store)
    wrong_issuer = jwt.encode({**full, "iss": "someone-else"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError):
        await verify_token(wrong_issuer, SECRET, store)


@pytest.mark.asyncio
async def test_logout_revokes_only_that_token(store):
    first, _ = issue_token("alice", SECRET, 60)
    second, _ = issue_token("alice", SECRET, 60)
    await revoke(first, SECRET, store)
    with pytest.raises(AuthError, match="revoked"):
        await verify_token(first, SECRET, store)
    assert await verify_token(second, SECRET, store) == "alice"


@pytest.mark.asyncio
async def test_revoking_a_forged_token_is_refused(store):
    forged, _ = issue_token("alice", "another secret of enough length........", 60)
    with pytest.raises(AuthError):
        await revoke(forged, SECRET, store)


@pytest.mark.asyncio
async def test_revoking_an_expired_token_needs_nothing(store):
    now = int(time.time())
    token = jwt.encode({"sub": "alice", "jti": "old", "iat": now - 120, "exp": now - 60,
                        "iss": auth.ISSUER}, SECRET, algorithm="HS256")
    await revoke(token, SECRET, store)
    assert await store.is_token_revoked("old") is False


@pytest.mark.asyncio
async def test_store_failure_is_not_an_auth_decision():
    """A store that cannot answer must not let a token through nor call it revoked."""

    class DownStore(EmbeddedStore):
        async def is_token_revoked(self, token_id):
            raise StoreError("down")

    token, _ = issue_token("alice", SECRET, 60)
    with pytest.raises(StoreError):
        await verify_token(token, SECRET, DownStore())


@pytest.mark.asyncio
async def test_logout_in_one_bridge_process_counts_in_another():
    """Revocation goes through the shared Redis store, so every bridge refuses the token."""
    from handoff.store.redis import RedisStore
    from tests.support.processes import RedisServer

    with RedisServer() as server:
        first, second = RedisStore(server.url), RedisStore(server.url)
        await first.start()
        await second.start()
        token, _ = issue_token("alice", SECRET, 60)
        assert await verify_token(token, SECRET, second) == "alice"
        await revoke(token, SECRET, first)
        with pytest.raises(AuthError, match="revoked"):
            await verify_token(token, SECRET, second)
        await first.close()
        await second.close()
