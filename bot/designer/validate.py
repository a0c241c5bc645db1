"""``make validate``: ``rasa data validate`` plus this project's own checks.

Every problem is printed as ``<file>:<line>: <message>`` (line numbers are
1-based, taken from ruamel.yaml's position info). Checks:

* every knowledge-base article is reachable: one of its ``intents`` is routed by
  a rule or story to an action that selects articles by intent
  (action_answer_faq, action_product_info) and it is the first article for that
  intent (later ones are never chosen by intent);
* every response in domain.yml is used by a rule, story, form (``utter_ask_<slot>``)
  or is named in the actions code (``utter_escalate_<reason>`` for each reason);
* every domain intent appears in some story or rule;
* escalation policy topics have a valid team and non-empty keywords, and the
  ``teams:`` section names valid teams;
* product names and synonyms do not clash between products.

Usage: ``python -m bot.designer.validate [--root DIR] [--no-rasa]``; exits 1 on problems.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ruamel.yaml import YAML

from bot.knowledge import normalize_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Actions that answer from the article mapped to the latest intent (actions/actions.py).
ARTICLE_ACTIONS = {"action_answer_faq", "action_product_info"}
# The support teams (actions.TEAM_NAMES, articles.yml header).
TEAMS = {"billing", "technical", "orders", "account", "general"}
# Escalation reasons: action_escalate utters utter_escalate_<reason>.
REASONS = ("human_requested", "frustration", "bot_failure", "policy_topic")
# Responses Rasa itself may utter.
RASA_DEFAULT_RESPONSES = {"utter_default"}


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return YAML(typ="rt").load(handle)


def _key_line(mapping: Any, key: str) -> int:
    try:
        return mapping.lc.key(key)[0] + 1
    except Exception:  # noqa: BLE001 - no position info
        return 1


def _item_line(seq: Any, index: int) -> int:
    try:
        return seq.lc.item(index)[0] + 1
    except Exception:  # noqa: BLE001
        return 1


class Validator:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.problems: list[Problem] = []

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def add(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel(path), line, message))

    # -- loading ---------------------------------------------------------
    def _story_files(self) -> Iterable[Path]:
        data = self.root / "data"
        for path in sorted(data.rglob("*.yml")):
            if "kb" in path.relative_to(data).parts or path.name == "escalation.yml":
                continue
            yield path

    def _flows(self) -> list[list[tuple[str, str]]]:
        """Steps of every rule and story as (kind, name) pairs."""
        flows = []
        for path in self._story_files():
            doc = _load(path) or {}
            for section in ("rules", "stories"):
                for flow in doc.get(section) or []:
                    steps = []
                    for step in flow.get("steps") or []:
                        for kind in ("intent", "action", "active_loop"):
                            if kind in step and step[kind]:
                                steps.append((kind, str(step[kind])))
                        for branch in step.get("or") or []:
                            if "intent" in branch:
                                steps.append(("intent", str(branch["intent"])))
                    flows.append(steps)
        return flows

    def _code_text(self) -> str:
        texts = []
        for folder in ("actions", "bot"):
            for path in sorted((self.root / folder).glob("*.py")):
                texts.append(path.read_text(encoding="utf-8"))
        return "\n".join(texts)

    # -- checks ----------------------------------------------------------
    def run(self) -> list[Problem]:
        domain_path = self.root / "domain.yml"
        domain = _load(domain_path) or {}
        flows = self._flows()
        flow_intents = {name for flow in flows for kind, name in flow if kind == "intent"}
        flow_actions = {name for flow in flows for kind, name in flow if kind in ("action", "active_loop")}
        # Intents routed to an article-selecting action (the next action after the intent).
        article_intents: set[str] = set()
        for flow in flows:
            last_intent = None
            for kind, name in flow:
                if kind == "intent":
                    last_intent = name
                elif kind == "action" and last_intent:
                    if name in ARTICLE_ACTIONS:
                        article_intents.add(last_intent)
                    last_intent = None
        self.check_intents(domain_path, domain, flow_intents)
        self.check_responses(domain_path, domain, flow_actions)
        self.check_articles(article_intents)
        self.check_products()
        self.check_escalation()
        return sorted(self.problems)

    def check_intents(self, path: Path, domain: Any, flow_intents: set[str]) -> None:
        intents = domain.get("intents") or []
        for index, intent in enumerate(intents):
            name = next(iter(intent)) if isinstance(intent, dict) else str(intent)
            if name not in flow_intents:
                self.add(path, _item_line(intents, index),
                         f"intent '{name}' is in no story or rule")

    def check_responses(self, path: Path, domain: Any, flow_actions: set[str]) -> None:
        responses = domain.get("responses") or {}
        code = self._code_text()
        used = set(flow_actions) | RASA_DEFAULT_RESPONSES
        used |= {f"utter_escalate_{reason}" for reason in REASONS}
        for form in (domain.get("forms") or {}).values():
            for slot in (form or {}).get("required_slots") or []:
                used.add(f"utter_ask_{slot}")
        for name in responses:
            if name in used or re.search(rf"['\"]{re.escape(name)}['\"]", code):
                continue
            self.add(path, _key_line(responses, name), f"response '{name}' is never used "
                     "(no rule, story, form or action utters it)")

    def check_articles(self, article_intents: set[str]) -> None:
        path = self.root / "data" / "kb" / "articles.yml"
        articles = (_load(path) or {}).get("articles") or []
        first_for_intent: dict[str, str] = {}
        for article in articles:
            for intent in article.get("intents") or []:
                first_for_intent.setdefault(str(intent), str(article.get("id")))
        for index, article in enumerate(articles):
            article_id = str(article.get("id"))
            intents = [str(i) for i in article.get("intents") or []]
            reachable = [i for i in intents
                         if i in article_intents and first_for_intent.get(i) == article_id]
            if not reachable:
                why = ("it has no intents" if not intents else
                       f"none of its intents ({', '.join(intents)}) is answered from the "
                       "knowledge base by a rule or story, or another article comes first")
                self.add(path, _item_line(articles, index),
                         f"article '{article_id}' is unreachable: {why}")

    def check_products(self) -> None:
        path = self.root / "data" / "kb" / "products.yml"
        products = (_load(path) or {}).get("products") or []
        owner: dict[str, str] = {}
        for product in products:
            pid = str(product.get("id"))
            names = [(product.get("id"), product, "id"), (product.get("name"), product, "name")]
            synonyms = product.get("synonyms") or []
            names += [(s, synonyms, i) for i, s in enumerate(synonyms)]
            for value, container, key in names:
                norm = normalize_name(str(value or ""))
                if not norm:
                    continue
                other = owner.setdefault(norm, pid)
                if other != pid:
                    line = (_item_line(container, key) if isinstance(key, int)
                            else _key_line(container, key))
                    self.add(path, line, f"product '{pid}': name or synonym '{value}' "
                             f"clashes with product '{other}'")

    def check_escalation(self) -> None:
        path = self.root / "data" / "escalation.yml"
        config = _load(path) or {}
        topics = config.get("policy_topics") or {}
        for name, topic in topics.items():
            topic = topic or {}
            team = topic.get("team", "general")
            if team not in TEAMS:
                line = _key_line(topic, "team") if "team" in topic else _key_line(topics, name)
                self.add(path, line, f"policy topic '{name}' has unknown team '{team}' "
                         f"(teams: {', '.join(sorted(TEAMS))})")
            keywords = [k for k in topic.get("keywords") or [] if str(k).strip()]
            if not keywords:
                line = _key_line(topic, "keywords") if "keywords" in topic else _key_line(topics, name)
                self.add(path, line, f"policy topic '{name}' has no keywords")
        teams = config.get("teams") or {}
        for team in teams:
            if team not in TEAMS:
                self.add(path, _key_line(teams, team), f"unknown team '{team}' in teams")


def validate(root: Path = PROJECT_ROOT) -> list[Problem]:
    """The project's own checks on the designer data under ``root``."""
    return Validator(root).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.designer.validate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT)
    parser.add_argument("--no-rasa", action="store_true", help="skip rasa data validate")
    args = parser.parse_args(argv)
    status = 0
    if not args.no_rasa:
        rasa = Path(sys.executable).with_name("rasa")
        command = [str(rasa) if rasa.exists() else "rasa", "data", "validate", "--fail-on-warnings"]
        print("$", " ".join(command), flush=True)
        if subprocess.run(command, cwd=args.root).returncode != 0:
            print("rasa data validate failed", file=sys.stderr)
            status = 1
    problems = validate(args.root)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"designer checks: {len(problems)} problem(s)")
    return 1 if problems else status


if __name__ == "__main__":
    sys.exit(main())
