"""Designer loop: the time from an edit in the training data to the new model answering
in the running system.

The edit is made in a copy of domain.yml, config.yml and data/ (the project's files are
never touched): one response gets new wording. Then the loop a designer runs with
`make ship`: train (Rasa reuses its cache of unchanged components), load the new model
into the running Rasa server with PUT /model, and ask until the new wording comes back.
A conversation started before the edit continues on the new model, in the same run.

    .venv-bridge/bin/python bench/designer_loop.py [--rounds 2]

Prints a table and writes bench/results/designer_loop.json.
"""
from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PROJECT_ROOT, RASA_VENV, loadavg, machine, print_table, summary, utcnow, write_result  # noqa: E402
from bot.designer.ship import http_json, load_model  # noqa: E402
from tests.support.rasa_stack import RasaStack  # noqa: E402

EDITED_RESPONSE = "utter_greet"


def edit_copy(workdir: Path, marker: str) -> None:
    """Copy the training files into workdir and reword one response to contain marker."""
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(PROJECT_ROOT / name, workdir / name)
    shutil.copytree(PROJECT_ROOT / "data", workdir / "data", dirs_exist_ok=True)
    domain = (workdir / "domain.yml").read_text()
    edited, count = re.subn(rf"(\n  {EDITED_RESPONSE}:\n(?:    - .*\n|      .*\n)+)",
                            f"\n  {EDITED_RESPONSE}:\n    - text: \"Hello ({marker})! How can I help?\"\n", domain, count=1)
    if count != 1:
        raise SystemExit(f"{EDITED_RESPONSE} not found in domain.yml")
    (workdir / "domain.yml").write_text(edited)


def train(workdir: Path, name: str) -> Path:
    """rasa train from the project root (so its cache is reused) on the edited copy."""
    subprocess.run([str(RASA_VENV / "bin" / "rasa"), "train", "--domain", str(workdir / "domain.yml"),
                    "--config", str(workdir / "config.yml"), "--data", str(workdir / "data"),
                    "--out", str(workdir / "models"), "--fixed-model-name", name],
                   cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return workdir / "models" / f"{name}.tar.gz"


def say(url: str, token: str, sender: str, text: str) -> list[str]:
    status, body = http_json("POST", f"{url}/webhooks/rest/webhook?token={token}",
                             {"sender": sender, "message": text}, timeout=60)
    if status != 200:
        raise SystemExit(f"Rasa answered {status}: {body}")
    return [m.get("text", "") for m in body]


def one_round(url: str, token: str, sender: str) -> dict[str, float]:
    marker = secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="designer-loop-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        edit_copy(workdir, marker)
        model = train(workdir, f"edited-{marker}")
        trained = time.monotonic()
        load_model(url, token, model)
        loaded = time.monotonic()
        while marker not in " ".join(say(url, token, sender, "hello")):
            if time.monotonic() - loaded > 60:
                raise SystemExit("the new wording never came back")
        answered = time.monotonic()
    return {"train_s": trained - started, "load_s": loaded - trained,
            "first_answer_s": answered - loaded, "edit_to_live_s": answered - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=None, help="result file (default bench/results/designer_loop.json)")
    args = parser.parse_args(argv)

    rounds = []
    started_utc, started, load_start = utcnow(), time.monotonic(), loadavg()
    with RasaStack() as (url, token):
        sender = f"designer-{secrets.token_hex(4)}"
        say(url, token, sender, "what are your opening hours")
        for _ in range(args.rounds):
            rounds.append(one_round(url, token, sender))
        status, tracker = http_json("GET", f"{url}/conversations/{sender}/tracker?token={token}")
        kept = status == 200 and any(e.get("event") == "user" and e.get("text") == "what are your opening hours"
                                     for e in tracker.get("events", []))

    keys = ("train_s", "load_s", "first_answer_s", "edit_to_live_s")
    stats = {k: summary([r[k] * 1000 for r in rounds]) for k in keys}
    print_table(["step", "median s", "max s"],
                [[k, f"{stats[k]['p50'] / 1000:.1f}", f"{stats[k]['max'] / 1000:.1f}"] for k in keys],
                title=f"Designer loop: edit → train → PUT /model → new answer ({len(rounds)} rounds)")
    print(f"conversation started before the edits kept its history: {kept}")
    write_result("designer_loop", {"benchmark": "designer_loop", "started_utc": started_utc,
                                   "finished_utc": utcnow(), "duration_s": time.monotonic() - started,
                                   "load_start": load_start, "load_end": loadavg(), "machine": machine(),
                                   "rounds": rounds, "conversation_kept": kept,
                                   "median_s": {k: stats[k]["p50"] / 1000 for k in keys}}, args.out)
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
