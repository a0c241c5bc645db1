"""Agent accounts (handoff/agents.py): the YAML file, its checks, the demo accounts, the CLI."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest
import yaml
from argon2 import PasswordHasher

from handoff import agents as agents_mod
from handoff.agents import (Agent, AgentFileError, add_agent, ensure_demo_agents, load_agents,
                            main, remove_agent, save_agents, set_password)
from handoff.auth import AuthError, authenticate
from tests.support.processes import PROJECT_ROOT

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def fast_hashing(monkeypatch):
    """Make the CLI (which uses the default argon2 cost) quick in tests."""
    monkeypatch.setattr(agents_mod, "PasswordHasher", lambda: FAST)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "var" / "agents.yml"


def test_missing_file_means_no_agents(path):
    assert load_agents(path) == {}


def test_add_and_load_round_trip(path):
    alice = add_agent(path, "alice", name="Alice Liddell", teams=["billing", "general"],
                      capacity=3, password="correct horse", hasher=FAST)
    add_agent(path, "bob", name="Bob", teams=["technical"], capacity=1, password="pw",
              hasher=FAST)
    loaded = load_agents(path)
    assert list(loaded) == ["alice", "bob"]
    assert loaded["alice"] == alice
    assert (alice.name, alice.teams, alice.capacity) == ("Alice Liddell", ("billing", "general"), 3)
    assert authenticate(loaded, "alice", "correct horse") == alice
    with pytest.raises(AuthError):
        authenticate(loaded, "alice", "pw")


def test_file_holds_hashes_only_and_is_private(path):
    add_agent(path, "alice", name="Alice", teams=["general"], capacity=3,
              password="correct horse", hasher=FAST)
    text = path.read_text()
    assert "correct horse" not in text
    entry = yaml.safe_load(text)["agents"][0]
    assert entry["password_hash"].startswith("$argon2id$")
    assert set(entry) == {"id", "name", "teams", "capacity", "password_hash"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["agents.yml"]   # no temp files left


def test_public_view_has_no_hash():
    agent = Agent(id="a", name="A", teams=("billing",), capacity=2, password_hash="$argon2id$x")
    assert agent.public() == {"id": "a", "name": "A", "teams": ["billing"], "capacity": 2}
    assert "argon2" not in repr(agent)


def test_duplicate_username_is_refused(path):
    add_agent(path, "alice", name="Alice", teams=["general"], capacity=3, password="a",
              hasher=FAST)
    with pytest.raises(AgentFileError, match="exists"):
        add_agent(path, "alice", name="Other", teams=["general"], capacity=3, password="b",
                  hasher=FAST)
    assert load_agents(path)["alice"].name == "Alice"


@pytest.mark.parametrize("changes", [
    {"username": "bad name"}, {"username": ""}, {"username": "-dash"}, {"username": "a" * 65},
    {"teams": ["marketing"]}, {"teams": []}, {"capacity": 0}, {"capacity": 51},
    {"name": "  "}, {"password": ""},
])
def test_invalid_accounts_are_refused(path, changes):
    args = {"username": "alice", "name": "Alice", "teams": ["general"], "capacity": 3,
            "password": "pw", **changes}
    with pytest.raises(AgentFileError):
        add_agent(path, args.pop("username"), hasher=FAST, **args)
    assert load_agents(path) == {}


@pytest.mark.parametrize("content, message", [
    ("agents: [", "YAML"),
    ("agents: {alice: 1}", "list"),
    ("agents:\n  - just-a-string\n", "mapping"),
    ("agents:\n  - id: alice\n    name: A\n", "password_hash"),
    ("agents:\n  - id: alice\n    password_hash: plain\n", "argon2"),
    ("agents:\n  - id: alice\n    teams: [sales]\n    password_hash: $argon2id$x\n", "teams"),
    ("agents:\n  - id: a\n    password_hash: $argon2id$x\n  - id: a\n    password_hash: $argon2id$y\n",
     "twice"),
    ("agents:\n  - id: a\n    capacity: three\n    password_hash: $argon2id$x\n", "capacity"),
])
def test_malformed_files_are_reported(path, content, message):
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(AgentFileError, match=message):
        load_agents(path)


def test_empty_file_means_no_agents(path):
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert load_agents(path) == {}


def test_set_password_and_remove(path):
    add_agent(path, "alice", name="Alice", teams=["general"], capacity=3, password="old",
              hasher=FAST)
    set_password(path, "alice", "new", hasher=FAST)
    loaded = load_agents(path)
    assert authenticate(loaded, "alice", "new")
    with pytest.raises(AuthError):
        authenticate(loaded, "alice", "old")
    remove_agent(path, "alice")
    assert load_agents(path) == {}
    with pytest.raises(KeyError):
        remove_agent(path, "alice")
    with pytest.raises(KeyError):
        set_password(path, "alice", "x", hasher=FAST)


def test_save_refuses_invalid_agents(path):
    with pytest.raises(AgentFileError):
        save_agents(path, [Agent(id="a", name="A", password_hash="not-a-hash")])
    assert not path.exists()


def test_demo_agents_are_created_once_with_working_passwords(path):
    created = ensure_demo_agents(path, hasher=FAST)
    assert [u for u, _ in created] == ["alice", "bob"]
    assert all(len(p) >= 12 for _, p in created)
    assert created[0][1] != created[1][1]
    loaded = load_agents(path)
    for username, password in created:
        assert authenticate(loaded, username, password).id == username
    before = path.read_bytes()
    assert ensure_demo_agents(path, hasher=FAST) == []
    assert path.read_bytes() == before


def test_demo_agents_never_overwrite_a_real_file(path):
    add_agent(path, "carol", name="Carol", teams=["orders"], capacity=2, password="pw",
              hasher=FAST)
    assert ensure_demo_agents(path, hasher=FAST) == []
    assert list(load_agents(path)) == ["carol"]


def test_demo_agents_lose_a_creation_race_gracefully(path, monkeypatch):
    """Another process creates the file between the existence check and the write: its
    accounts stay, and no passwords that do not work are returned."""
    real_hash = agents_mod.hash_password
    other = Agent(id="carol", name="Carol", teams=("orders",), capacity=2,
                  password_hash=real_hash("pw", FAST))

    def slow_hash(password, hasher=None):
        if not path.exists():
            save_agents(path, [other])
        return real_hash(password, hasher)

    monkeypatch.setattr(agents_mod, "hash_password", slow_hash)
    assert ensure_demo_agents(path, hasher=FAST) == []
    assert list(load_agents(path)) == ["carol"]
    assert [p.name for p in path.parent.iterdir()] == ["agents.yml"]


def test_demo_passwords_differ_between_runs(tmp_path):
    first = ensure_demo_agents(tmp_path / "a.yml", hasher=FAST)
    second = ensure_demo_agents(tmp_path / "b.yml", hasher=FAST)
    assert dict(first)["alice"] != dict(second)["alice"]


# the command line

def test_cli_add_with_password_env_and_list(path, fast_hashing, monkeypatch, capsys):
    monkeypatch.setenv("ALICE_PW", "correct horse")
    assert main(["--file", str(path), "add", "alice", "--name", "Alice", "--teams",
                 "billing,general", "--capacity", "3", "--password-env", "ALICE_PW"]) == 0
    agent = authenticate(load_agents(path), "alice", "correct horse")
    assert (agent.name, agent.teams, agent.capacity) == ("Alice", ("billing", "general"), 3)
    capsys.readouterr()
    assert main(["--file", str(path), "list"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "billing,general" in out and "capacity=3" in out
    assert "argon2" not in out


def test_cli_reads_the_password_from_stdin(path, fast_hashing, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert main(["--file", str(path), "add", "bob"]) == 0
    bob = authenticate(load_agents(path), "bob", "from stdin")
    assert (bob.name, bob.teams, bob.capacity) == ("bob", ("general",), 3)


def test_cli_refuses_bad_input_before_asking_for_a_password(path, fast_hashing, monkeypatch,
                                                            capsys):
    def no_prompt():
        raise AssertionError("asked for a password")

    monkeypatch.setattr(agents_mod, "_read_password", lambda env: no_prompt())
    assert main(["--file", str(path), "add", "alice", "--teams", "sales"]) == 2
    assert "teams" in capsys.readouterr().err
    assert not path.exists()


def test_cli_errors(path, fast_hashing, monkeypatch, capsys):
    assert main(["--file", str(path), "add", "alice", "--password-env", "UNSET_VAR_X"]) == 2
    monkeypatch.setenv("PW", "pw")
    assert main(["--file", str(path), "add", "alice", "--password-env", "PW"]) == 0
    assert main(["--file", str(path), "add", "alice", "--password-env", "PW"]) == 2
    assert main(["--file", str(path), "remove", "nobody"]) == 2
    assert main(["--file", str(path), "passwd", "alice", "--password-env", "PW"]) == 0
    assert main(["--file", str(path), "remove", "alice"]) == 0
    assert load_agents(path) == {}
    assert "no agent nobody" in capsys.readouterr().err


def test_cli_as_a_module(path):
    """The real entry point, as an operator runs it: password on standard input."""
    env = {**os.environ, "HANDOFF_AGENTS_FILE": str(path)}
    python = sys.executable
    added = subprocess.run([python, "-m", "handoff.agents", "add", "dana", "--name", "Dana",
                            "--teams", "orders", "--capacity", "2"], input="s3cret pass\n",
                           capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=60)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([python, "-m", "handoff.agents", "list"], capture_output=True,
                            text=True, cwd=PROJECT_ROOT, env=env, timeout=60)
    assert listed.returncode == 0 and "dana" in listed.stdout and "orders" in listed.stdout
    assert authenticate(load_agents(path), "dana", "s3cret pass").name == "Dana"
