"""The endpoints generator, and each store against the real server: SQLite (default,
survives a restart), then PostgreSQL at 127.0.0.1:5432 in a fresh database with a
throwaway real redis-server as lock store (our AtomicRedisLockStore, as Rasa builds it
from the written file)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid

import pytest

from bot.endpoints import endpoints, render
from tests.support.processes import PROJECT_ROOT, RedisServer
from tests.support.rasa_stack import RasaStack, request

pytestmark = pytest.mark.timeout(600)

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def test_defaults():
    config = endpoints({})
    assert config == {
        "action_endpoint": {"url": "http://127.0.0.1:5055/webhook"},
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": "var/rasa/tracker.db"}}


def test_postgresql_and_redis_urls():
    config = endpoints({"ACTION_ENDPOINT_URL": "http://actions:5055/webhook",
                        "TRACKER_STORE_URL": "postgresql://rasa:s%40cret@db.internal:5433/tracker",
                        "LOCK_STORE_URL": "redis://:pw@cache:6380/2"})
    assert config["action_endpoint"] == {"url": "http://actions:5055/webhook"}
    assert config["tracker_store"] == {"type": "SQL", "dialect": "postgresql", "url": "db.internal",
                                       "port": 5433, "db": "tracker", "username": "rasa",
                                       "password": "s@cret"}
    assert config["lock_store"] == {"type": "bot.lock_store.AtomicRedisLockStore",
                                    "url": "cache", "port": 6380, "db": 2,
                                    "key_prefix": "supportline", "password": "pw"}


@pytest.mark.parametrize("env", [{"TRACKER_STORE_URL": "mysql://x/y"},
                                 {"TRACKER_STORE_URL": "postgresql://host-only"},
                                 {"TRACKER_STORE_URL": "sqlite://"},
                                 {"LOCK_STORE_URL": "memcached://x"}])
def test_bad_urls_are_refused(env):
    with pytest.raises(ValueError):
        endpoints(env)


def test_cli_writes_a_yaml_file(tmp_path):
    out = tmp_path / "endpoints.yml"
    env = {"PATH": "/usr/bin:/bin", "TRACKER_STORE_URL": f"sqlite:///{tmp_path}/t.db",
           "LOCK_STORE_URL": "redis://127.0.0.1:6379/0"}
    subprocess.run([sys.executable, "-m", "bot.endpoints", "--out", str(out)],
                   cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    import yaml
    assert yaml.safe_load(out.read_text())["lock_store"]["type"] == \
        "bot.lock_store.AtomicRedisLockStore"
    bad = subprocess.run([sys.executable, "-m", "bot.endpoints", "--out", str(out)],
                         cwd=PROJECT_ROOT, env={**env, "TRACKER_STORE_URL": "nope://"},
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "TRACKER_STORE_URL" in bad.stderr
    assert json.loads(render({"a": {"b": 1}}).splitlines()[1][3:]) == {"b": 1}


def test_rasa_builds_the_atomic_lock_store_from_the_written_file(tmp_path):
    """Rasa reads the generated file (read_endpoint_config) and LockStore.create builds
    our store from it, with the URL's password, db and our key prefix; it works on a
    password-protected real Redis."""
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import read_endpoint_config

    from bot.lock_store import AtomicRedisLockStore

    with RedisServer(password="s@cret/pw") as server:
        out = tmp_path / "endpoints.yml"
        url = f"redis://:s%40cret%2Fpw@127.0.0.1:{server.port}/3"
        subprocess.run([sys.executable, "-m", "bot.endpoints", "--out", str(out)],
                       cwd=PROJECT_ROOT, check=True, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "LOCK_STORE_URL": url,
                            "TRACKER_STORE_URL": f"sqlite:///{tmp_path}/t.db"})
        config = read_endpoint_config(str(out), "lock_store")
        assert config.type == "bot.lock_store.AtomicRedisLockStore"
        store = LockStore.create(config)
        assert type(store) is AtomicRedisLockStore
        connection = store.red.connection_pool.connection_kwargs
        assert (connection["host"], connection["port"], connection["db"],
                connection["password"]) == ("127.0.0.1", server.port, 3, "s@cret/pw")
        assert store.key_prefix == "supportline:lock:"
        assert store.poll_interval <= 0.05
        assert store.issue_ticket("c1") == 0 and store.issue_ticket("c1") == 1
        assert store.red.exists("supportline:lock:c1")
        store.cleanup("c1", 0)
        store.cleanup("c1", 1)
        assert not store.red.exists("supportline:lock:c1")


def say(url: str, token: str, sender: str, text: str) -> list:
    status, body = request("POST", f"{url}/webhooks/rest/webhook?token={token}",
                           {"sender": sender, "message": text})
    assert status == 200, body
    return body


def test_sqlite_tracker_store_survives_a_restart(tmp_path):
    db = tmp_path / "tracker.db"
    env = {"TRACKER_STORE_URL": f"sqlite:///{db}"}
    sender = f"sqlite-{uuid.uuid4().hex}"
    with RasaStack(endpoints_env=env) as (url, token):
        say(url, token, sender, "what's your return policy?")
    rows = sqlite3.connect(db).execute(
        "select count(*) from events where sender_id = ?", (sender,)).fetchone()[0]
    assert rows >= 4
    with RasaStack(endpoints_env=env) as (url, token):
        status, tracker = request("GET", f"{url}/conversations/{sender}/tracker?token={token}")
        assert status == 200
        assert tracker["slots"]["kb_articles_shown"] == ["returns-policy"]


@pytest.fixture
def postgres_db():
    import psycopg2  # in .venv-rasa; a missing driver must fail, not skip

    name = f"supportline_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_postgresql_tracker_store_with_redis_lock_store(postgres_db):
    """The production setting: PostgreSQL tracker store and Redis lock store together
    (one server start for both, to keep the suite short)."""
    import psycopg2
    import redis

    sender = f"pg-{uuid.uuid4().hex}"
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        env = {"TRACKER_STORE_URL": f"postgresql://postgres@127.0.0.1:5432/{postgres_db}",
               "LOCK_STORE_URL": server.url}
        with RasaStack(endpoints_env=env) as (url, token):
            before = client.info("commandstats")
            replies = say(url, token, sender, "I want to talk to a human")
            after = client.info("commandstats")
            assert replies[-1]["custom"]["handoff"]["reason"] == "human_requested"
    scripts = lambda stats: stats.get("cmdstat_evalsha", {}).get("calls", 0)  # noqa: E731
    assert scripts(after) > scripts(before), "Rasa did not use our Redis lock store"

    with psycopg2.connect(dbname=postgres_db, **PG) as conn, conn.cursor() as cur:
        cur.execute("select type_name, action_name, data from events where sender_id = %s "
                    "order by id", (sender,))
        events = cur.fetchall()
    names = [(kind, action) for kind, action, _ in events]
    assert ("user", None) in names
    assert ("action", "action_escalate") in names
    slots = {json.loads(data)["name"]: json.loads(data)["value"]
             for kind, _, data in events if kind == "slot"}
    assert slots.get("escalation_reason") == "human_requested", names
