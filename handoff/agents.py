"""Agent accounts: a small YAML file of agents and their argon2 password hashes.

The file (HANDOFF_AGENTS_FILE, default var/agents.yml) looks like this:

    agents:
      - id: alice
        name: Alice
        teams: [billing, general]
        capacity: 3
        password_hash: $argon2id$v=19$m=65536,t=3,p=4$...

Only hashes are stored, never passwords. The file is written atomically (a temporary
file renamed over the old one) and readable by its owner only.

Command line:

    python -m handoff.agents add alice --name "Alice" --teams billing,general --capacity 3
    python -m handoff.agents passwd alice
    python -m handoff.agents remove alice
    python -m handoff.agents list

The password is read from the environment variable named by --password-env, else from
standard input when it is not a terminal (first line), else asked for twice.
"""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from argon2 import PasswordHasher

log = logging.getLogger(__name__)

TEAMS = ("billing", "technical", "orders", "account", "general")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_CAPACITY = 50
DEFAULT_FILE = "var/agents.yml"

# The demo accounts ensure_demo_agents creates: (id, name, teams, capacity).
DEMO_AGENTS = (
    ("alice", "Alice", ("billing", "orders", "general"), 3),
    ("bob", "Bob", ("technical", "account", "general"), 3),
)


@dataclass(frozen=True)
class Agent:
    """One agent account. `id` is the username agents log in with."""

    id: str
    name: str
    teams: tuple[str, ...] = ("general",)
    capacity: int = 3
    password_hash: str = field(default="", repr=False)

    def public(self) -> dict[str, Any]:
        """What clients may see (the login answer's "agent"): never the hash."""
        return {"id": self.id, "name": self.name, "teams": list(self.teams),
                "capacity": self.capacity}


class AgentFileError(ValueError):
    """The agents file or a value for it is invalid (message says which entry and why)."""


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of password (argon2-cffi's recommended parameters by default)."""
    if not password:
        raise AgentFileError("the password must not be empty")
    return (hasher or PasswordHasher()).hash(password)


def validate(agent: Agent, *, check_hash: bool = True) -> Agent:
    """The agent if every field is acceptable; AgentFileError otherwise. check_hash=False
    checks everything but the hash (input checked before a password is asked for)."""
    if not USERNAME_RE.match(agent.id):
        raise AgentFileError(f"invalid username {agent.id!r}: letters, digits, '_', '.', '-'")
    if not agent.name.strip():
        raise AgentFileError(f"agent {agent.id}: name must not be empty")
    unknown = [t for t in agent.teams if t not in TEAMS]
    if not agent.teams or unknown:
        raise AgentFileError(f"agent {agent.id}: teams must be among {', '.join(TEAMS)}"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    if isinstance(agent.capacity, bool) or not isinstance(agent.capacity, int) \
            or not 1 <= agent.capacity <= MAX_CAPACITY:
        raise AgentFileError(f"agent {agent.id}: capacity must be an integer 1..{MAX_CAPACITY}")
    if check_hash and not agent.password_hash.startswith("$argon2"):
        raise AgentFileError(f"agent {agent.id}: password_hash is not an argon2 hash")
    return agent


def load_agents(path: str | os.PathLike[str]) -> dict[str, Agent]:
    """Agents by id from the file; {} when the file does not exist. AgentFileError when
    the file is malformed, so a broken file stops the bridge instead of locking agents out
    silently."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AgentFileError(f"{p}: not valid YAML: {exc}") from exc
    entries = data.get("agents") if isinstance(data, dict) else None
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise AgentFileError(f"{p}: 'agents' must be a list")
    agents: dict[str, Agent] = {}
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise AgentFileError(f"{p}: entry {n} is not a mapping")
        try:
            agent = Agent(id=str(entry["id"]), name=str(entry.get("name") or entry["id"]),
                          teams=tuple(entry.get("teams") or ("general",)),
                          capacity=entry.get("capacity", 3),
                          password_hash=str(entry["password_hash"]))
        except KeyError as exc:
            raise AgentFileError(f"{p}: entry {n} lacks {exc.args[0]!r}") from exc
        validate(agent)
        if agent.id in agents:
            raise AgentFileError(f"{p}: agent {agent.id} appears twice")
        agents[agent.id] = agent
    return agents


def save_agents(path: str | os.PathLike[str], agents: Iterable[Agent], *,
                overwrite: bool = True) -> None:
    """Write the file atomically, owner-readable only, creating its directory if needed.
    With overwrite=False, FileExistsError if the file exists (checked atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = {"agents": [{"id": a.id, "name": a.name, "teams": list(a.teams),
                        "capacity": a.capacity, "password_hash": a.password_hash}
                       for a in map(validate, agents)]}
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True)
        os.chmod(tmp, 0o600)
        if overwrite:
            os.replace(tmp, p)
        else:
            os.link(tmp, p)     # fails if p exists, unlike a rename
    finally:
        Path(tmp).unlink(missing_ok=True)


def add_agent(path: str | os.PathLike[str], username: str, *, name: str, teams: Iterable[str],
              capacity: int, password: str, hasher: PasswordHasher | None = None) -> Agent:
    """Add an account to the file; AgentFileError if the username is taken or invalid."""
    agents = load_agents(path)
    if username in agents:
        raise AgentFileError(f"agent {username} exists already")
    agent = validate(Agent(id=username, name=name, teams=tuple(teams), capacity=capacity,
                           password_hash=hash_password(password, hasher)))
    save_agents(path, [*agents.values(), agent])
    log.info("agent %s added", username)
    return agent


def set_password(path: str | os.PathLike[str], username: str, password: str,
                 hasher: PasswordHasher | None = None) -> Agent:
    """Replace an agent's password; KeyError when there is no such agent."""
    agents = load_agents(path)
    if username not in agents:
        raise KeyError(username)
    agents[username] = replace(agents[username], password_hash=hash_password(password, hasher))
    save_agents(path, agents.values())
    log.info("password of agent %s changed", username)
    return agents[username]


def remove_agent(path: str | os.PathLike[str], username: str) -> None:
    """Delete an account; KeyError when there is no such agent. Tokens already issued to
    it stay valid until they expire unless the server checks the agent still exists."""
    agents = load_agents(path)
    if username not in agents:
        raise KeyError(username)
    del agents[username]
    save_agents(path, agents.values())
    log.info("agent %s removed", username)


def ensure_demo_agents(path: str | os.PathLike[str],
                       hasher: PasswordHasher | None = None) -> list[tuple[str, str]]:
    """For the demo: when the file does not exist, create it with DEMO_AGENTS and fresh
    random passwords, and return [(username, password)] so the run script can show them.
    An existing file is left alone and [] returned (its passwords are unknown), also
    when another process creates it at the same moment."""
    if Path(path).exists():
        return []
    created: list[tuple[str, str]] = []
    agents: list[Agent] = []
    for username, name, teams, capacity in DEMO_AGENTS:
        password = secrets.token_urlsafe(12)
        agents.append(Agent(id=username, name=name, teams=teams, capacity=capacity,
                            password_hash=hash_password(password, hasher)))
        created.append((username, password))
    try:
        save_agents(path, agents, overwrite=False)
    except FileExistsError:
        return []
    log.info("demo agents created in %s: %s", path, ", ".join(u for u, _ in created))
    return created


def _read_password(env_var: str | None) -> str:
    if env_var:
        password = os.environ.get(env_var)
        if not password:
            raise AgentFileError(f"environment variable {env_var} is not set or empty")
        return password
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise AgentFileError("the passwords differ")
    return first


def _print_agents(agents: Mapping[str, Agent]) -> None:
    if not agents:
        print("no agents")
        return
    width = max(len(a) for a in agents)
    for agent in agents.values():
        print(f"{agent.id:<{width}}  {agent.name}  teams={','.join(agent.teams)}  "
              f"capacity={agent.capacity}")


def main(argv: list[str] | None = None) -> int:
    """The command line (see module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m handoff.agents",
                                     description="Manage the bridge's agent accounts.")
    parser.add_argument("--file", default=os.environ.get("HANDOFF_AGENTS_FILE", DEFAULT_FILE),
                        help="agents file (default: $HANDOFF_AGENTS_FILE or %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add an agent")
    add.add_argument("username")
    add.add_argument("--name", help="display name (default: the username)")
    add.add_argument("--teams", default="general",
                     help=f"comma-separated, among {','.join(TEAMS)} (default: general)")
    add.add_argument("--capacity", type=int, default=3, help="chats at once (default: 3)")
    add.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    passwd = commands.add_parser("passwd", help="change an agent's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    remove = commands.add_parser("remove", help="remove an agent")
    remove.add_argument("username")
    commands.add_parser("list", help="list agents")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            _print_agents(load_agents(args.file))
        elif args.command == "add":
            teams = [t.strip() for t in args.teams.split(",") if t.strip()]
            agent = Agent(id=args.username, name=args.name or args.username, teams=tuple(teams),
                          capacity=args.capacity)
            validate(agent, check_hash=False)   # refuse bad input before asking for a password
            if args.username in load_agents(args.file):
                raise AgentFileError(f"agent {args.username} exists already")
            add_agent(args.file, args.username, name=agent.name, teams=teams,
                      capacity=args.capacity, password=_read_password(args.password_env))
            print(f"added {args.username} to {args.file}")
        elif args.command == "passwd":
            set_password(args.file, args.username, _read_password(args.password_env))
            print(f"password of {args.username} changed")
        elif args.command == "remove":
            remove_agent(args.file, args.username)
            print(f"removed {args.username} from {args.file}")
    except AgentFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: no agent {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
