"""In-process measurements of a Rasa model, run in the RASA environment (.venv-rasa) by
bench/turn_cost.py. Prints one JSON object on the last line of stdout.

  .venv-rasa/bin/python bench/rasa_helper.py accuracy --model M [--limit N]
      intent accuracy on tests/bot/heldout_nlu.yml (a fallback counts as a miss; also
      the classifier's top intent ignoring the fallback), parse time per message
  .venv-rasa/bin/python bench/rasa_helper.py profile --model M --warm 50 --turns 20 \
          [--action-url http://127.0.0.1:5055/webhook]
      one conversation through the Agent with the project's endpoints (SQLite tracker
      store in a temporary file, the given action server): `warm` turns unprofiled, then
      `turns` turns under cProfile; time per turn, own time by component, cumulative
      time of the processor's stages, and the top functions
  .venv-rasa/bin/python bench/rasa_helper.py turns --model M --turns 12
      per-turn latency of one conversation in-process
  .venv-rasa/bin/python bench/rasa_helper.py accuracy+profile --model M ...
      both with one model load (bench/turn_cost.py)
  .venv-rasa/bin/python bench/rasa_helper.py quick --model M --turns 12 --warm 3 --limit 20
      all three, small, with one model load (bench/turn_cost.py --quick)
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.common import summary  # noqa: E402

HELDOUT = ROOT / "tests" / "bot" / "heldout_nlu.yml"
FALLBACK = "nlu_fallback"


def quiet() -> None:
    from rasa.utils.log_utils import configure_structlog
    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("rasa", "tensorflow", "absl", "sanic", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)


def heldout_examples() -> list[tuple[str, str]]:
    from tests.bot.test_nlu_heldout import examples
    return examples(HELDOUT)


async def accuracy(agent: Any, limit: int | None, load_s: float | None = None) -> dict[str, Any]:
    pairs = heldout_examples()
    if limit:
        pairs = pairs[::max(1, len(pairs) // limit)][:limit]
    await agent.parse_message(pairs[0][0])  # warm-up
    correct = correct_top = 0
    times = []
    misses: dict[str, int] = {}
    for text, intent in pairs:
        t = time.perf_counter()
        result = await agent.parse_message(text)
        times.append((time.perf_counter() - t) * 1000)
        name = result["intent"]["name"]
        top = next((r["name"] for r in result.get("intent_ranking") or [] if r["name"] != FALLBACK), name)
        correct += name == intent
        correct_top += top == intent
        if name != intent:
            key = f"{intent} -> {name}"
            misses[key] = misses.get(key, 0) + 1
    return {"n": len(pairs), "intents": len({i for _, i in pairs}),
            "accuracy": round(correct / len(pairs), 4), "correct": correct,
            "accuracy_top_intent_ignoring_fallback": round(correct_top / len(pairs), 4),
            "parse_ms": summary(times), "load_s": round(load_s, 2) if load_s else None,
            "misses": dict(sorted(misses.items(), key=lambda kv: -kv[1])[:15])}


async def load_with_endpoints(model: str, action_url: str | None, tmp: Path):
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    env = {**os.environ, "TRACKER_STORE_URL": f"sqlite:///{tmp / 'tracker.db'}",
           "ACTION_ENDPOINT_URL": action_url or "http://127.0.0.1:9/webhook"}
    from bot import endpoints as ep
    out = tmp / "endpoints.yml"
    old = dict(os.environ)
    os.environ.update(env)
    try:
        ep.main(["--out", str(out)])
    finally:
        os.environ.clear()
        os.environ.update(old)
    return await load_agent(model_path=model, endpoints=AvailableEndpoints.read_endpoints(str(out)))


async def one_turn(agent: Any, sender: str, text: str) -> list[dict[str, Any]]:
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    out = CollectingOutputChannel()
    await agent.handle_message(UserMessage(text, out, sender))
    return out.messages


# own time of a function, by where its code lives
CATEGORIES = [
    ("action response validation (jsonschema)", ("jsonschema/", "jsonschema_specifications/", "referencing/",
                                                 "rpds", "pyrsistent/", "urllib/parse.py", "_pmap.py")),
    ("TED / UnexpecTED policies (predict)", ("rasa/core/policies/ted_policy", "rasa/core/policies/unexpected_intent_policy")),
    ("tracker featurization (states, features)", ("rasa/core/featurizers/", "rasa/shared/core/domain.py",
                                                  "rasa/shared/nlu/training_data/features", "rasa/utils/tensorflow/model_data")),
    ("tracker and event handling", ("rasa/shared/core/trackers.py", "rasa/shared/core/events.py",
                                    "rasa/shared/core/slots.py", "rasa/core/tracker_store.py",
                                    "rasa/shared/core/generator.py", "rasa/shared/core/training_data/structures")),
    ("tracker store (SQLAlchemy, SQLite)", ("sqlalchemy/", "sqlite3", "_sqlite3")),
    ("NLU components", ("rasa/nlu/",)),
    ("other policies (rules, memoization, ours)", ("rasa/core/policies/", "bot/policy.py", "bot/escalation.py")),
    ("TensorFlow / Keras", ("tensorflow/", "keras/")),
    ("NumPy / SciPy / scikit-learn", ("numpy/", "scipy/", "sklearn/")),
    ("deep copies, JSON", ("copy.py", "json/", "jsonpickle", "<built-in method _json", "ujson")),
    ("action server call, HTTP, event loop", ("aiohttp/", "asyncio/", "selectors.py", "ssl.py", "socket.py",
                                              "<method 'poll' of 'select.epoll'", "rasa/core/actions/action.py",
                                              "rasa/utils/endpoints.py")),
    ("graph runner, processor, other Rasa", ("rasa/",)),
]


def _category(filename: str, funcname: str) -> str:
    key = f"{filename}:{funcname}"
    for name, needles in CATEGORIES:
        if any(n in key for n in needles):
            return name
    if filename == "~":
        return "built-ins (C functions)"
    return "other Python"


def analyse(prof: cProfile.Profile, turns: int, wall_s: float) -> dict[str, Any]:
    stats = pstats.Stats(prof)
    raw = stats.stats  # (file, line, func) -> (cc, nc, tt, ct, callers)
    total_tt = sum(v[2] for v in raw.values())
    by_cat: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        cat = _category(filename.replace("\\", "/"), func)
        if cat == "built-ins (C functions)":
            # attribute C functions (deepcopy's helpers, json, numpy ...) by name
            if "sqlite3" in func:
                cat = "tracker store (SQLAlchemy, SQLite)"
            elif "epoll" in func or "select" in func:
                cat = "waiting for I/O (action server, sockets)"
            elif "deepcopy" in func or "json" in func or "dumps" in func or "loads" in func:
                cat = "deep copies, JSON"
            elif "numpy" in func or "TFE_" in func or "pywrap" in func or "tensorflow" in func:
                cat = "TensorFlow / Keras"
        by_cat[cat] = by_cat.get(cat, 0.0) + tt
    stages = {
        "parse_message (NLU)": ("rasa/core/processor.py", "parse_message"),
        "_predict_next_with_tracker (policies)": ("rasa/core/processor.py", "_predict_next_with_tracker"),
        "_run_action (actions, incl. the action server call)": ("rasa/core/processor.py", "_run_action"),
        "validation of the action server's answer (jsonschema)": ("rasa/core/actions/action.py", "_validate_action_result"),
        "tracker store retrieve": ("rasa/core/tracker_store.py", "retrieve"),
        "tracker store save": ("rasa/core/tracker_store.py", "save"),
        "fetch_tracker_and_update_session": ("rasa/core/processor.py", "fetch_tracker_and_update_session"),
        "save_tracker": ("rasa/core/processor.py", "save_tracker"),
        "DialogueStateTracker.copy / deepcopy": ("rasa/shared/core/trackers.py", "copy"),
        "past_states / featurization": ("rasa/shared/core/trackers.py", "past_states"),
    }
    cumulative = {}
    for label, (path, func) in stages.items():
        # the outermost of same-named functions (e.g. AwaitableTrackerStore.save -> SQLTrackerStore.save)
        ct = max((v[3] for (f, _l, fn), v in raw.items() if f.replace("\\", "/").endswith(path) and fn == func),
                 default=0.0)
        cumulative[label] = round(ct / turns * 1000, 2)
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:25]
    top_rows = [{"function": f"{Path(f).name}:{line}:{fn}" if f != "~" else fn,
                 "calls_per_turn": round(v[1] / turns, 1), "own_ms_per_turn": round(v[2] / turns * 1000, 3),
                 "cum_ms_per_turn": round(v[3] / turns * 1000, 3)} for (f, line, fn), v in top]
    return {"turns": turns, "wall_ms_per_turn": round(wall_s / turns * 1000, 2),
            "profiled_ms_per_turn": round(total_tt / turns * 1000, 2),
            "own_time_share": {k: round(v / total_tt, 4) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
            "own_ms_per_turn": {k: round(v / turns * 1000, 2) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
            "cumulative_ms_per_turn": cumulative, "top_functions": top_rows}


async def profile(agent: Any, warm: int, turns: int, action_url: str | None, tmp: Path) -> dict[str, Any]:
    from bench.common import MESSAGES
    sender = f"p-{uuid.uuid4().hex[:12]}"
    for i in range(warm):
        await one_turn(agent, sender, MESSAGES[i % len(MESSAGES)])
    prof = cProfile.Profile()
    # the same turns unprofiled first: wall and CPU time per turn without cProfile's overhead
    t0, c0 = time.perf_counter(), time.process_time()
    plain_sender = f"q-{uuid.uuid4().hex[:12]}"
    for i in range(warm + turns):
        if i == warm:
            t0, c0 = time.perf_counter(), time.process_time()
        await one_turn(agent, plain_sender, MESSAGES[i % len(MESSAGES)])
    plain_wall, plain_cpu = time.perf_counter() - t0, time.process_time() - c0
    replies = 0
    t0 = time.perf_counter()
    prof.enable()
    for i in range(warm, warm + turns):
        replies += len(await one_turn(agent, sender, MESSAGES[i % len(MESSAGES)]))
    prof.disable()
    wall = time.perf_counter() - t0
    result = analyse(prof, turns, wall)
    result["unprofiled_wall_ms_per_turn"] = round(plain_wall / turns * 1000, 2)
    result["unprofiled_cpu_ms_per_turn"] = round(plain_cpu / turns * 1000, 2)
    result.update(conversation_turns=f"{warm}-{warm + turns}", replies=replies,
                  action_server=bool(action_url), tracker_store="SQLite (file)")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
    (tmp / "profile.txt").write_text(buf.getvalue())
    result["pstats_file"] = str(tmp / "profile.txt")
    return result


async def turns_inprocess(agent: Any, n: int) -> dict[str, Any]:
    from bench.common import MESSAGES
    sender = f"t-{uuid.uuid4().hex[:12]}"
    await one_turn(agent, f"warm-{sender}", MESSAGES[0])
    per_turn = []
    for i in range(n):
        t = time.perf_counter()
        await one_turn(agent, sender, MESSAGES[i % len(MESSAGES)])
        per_turn.append(round((time.perf_counter() - t) * 1000, 3))
    return {"per_turn_ms": per_turn, "latency_ms": summary(per_turn)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["accuracy", "profile", "turns", "quick", "accuracy+profile"])
    p.add_argument("--model", required=True)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--warm", type=int, default=50)
    p.add_argument("--turns", type=int, default=20)
    p.add_argument("--action-url", default=None)
    a = p.parse_args()
    quiet()
    out = asyncio.run(run(a))
    print(json.dumps(out))


async def run(a: argparse.Namespace) -> dict[str, Any]:
    """One model load for everything asked (imports and loading dominate short runs)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-rasa-helper-"))
    t0 = time.perf_counter()
    agent = await load_with_endpoints(a.model, a.action_url, tmp)
    load_s = time.perf_counter() - t0
    if a.what == "accuracy":
        return await accuracy(agent, a.limit, load_s)
    if a.what == "profile":
        return await profile(agent, a.warm, a.turns, a.action_url, tmp)
    if a.what == "turns":
        return await turns_inprocess(agent, a.turns)
    if a.what == "accuracy+profile":
        return {"accuracy": await accuracy(agent, a.limit, load_s),
                "profile": await profile(agent, a.warm, a.turns, a.action_url, tmp)}
    # quick: a little of everything, for the smoke test
    return {"load_s": round(load_s, 2), "accuracy": await accuracy(agent, a.limit or 20, load_s),
            "turns": await turns_inprocess(agent, a.turns),
            "profile": await profile(agent, a.warm, max(3, a.turns // 3), a.action_url, tmp)}


if __name__ == "__main__":
    main()
