"""bot.designer.validate: the real project passes; seeded mistakes are reported
with file and line."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.designer.validate import main, validate
from tests.support.processes import PROJECT_ROOT


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "data", tmp_path / "data")
    shutil.copytree(PROJECT_ROOT / "actions", tmp_path / "actions",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_ROOT / "bot", tmp_path / "bot",
                    ignore=shutil.ignore_patterns("__pycache__", "designer"))
    shutil.copy(PROJECT_ROOT / "domain.yml", tmp_path / "domain.yml")
    return tmp_path


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_the_real_project_passes():
    assert [str(p) for p in validate(PROJECT_ROOT)] == []
    assert main(["--no-rasa"]) == 0


def test_seeded_mistakes_are_reported_with_file_and_line(project: Path, capsys):
    articles = project / "data" / "kb" / "articles.yml"
    articles.write_text(articles.read_text() + (
        "\n  - id: gift-cards\n    title: Gift cards\n    team: billing\n"
        "    intents: [gift_cards]\n    body: >\n      We sell gift cards.\n"))
    domain = project / "domain.yml"
    text = domain.read_text()
    text = text.replace("  - request_human\n", "  - request_human\n  - ask_weather\n", 1)
    text = text.replace("responses:\n", "responses:\n  utter_never_said:\n    - text: \"Hello?\"\n", 1)
    domain.write_text(text)
    escalation = project / "data" / "escalation.yml"
    escalation.write_text(escalation.read_text().replace(
        "  chargeback:\n    team: billing", "  chargeback:\n    team: finance", 1))
    products = project / "data" / "kb" / "products.yml"
    products.write_text(products.read_text().replace(
        "synonyms: [kettle,", "synonyms: [jacket, kettle,", 1))

    problems = [str(p) for p in validate(project)]

    assert sorted(problems) == sorted([
        f"data/escalation.yml:{_line_of(escalation, 'team: finance')}: policy topic "
        "'chargeback' has unknown team 'finance' (teams: account, billing, general, orders, technical)",
        f"data/kb/articles.yml:{_line_of(articles, '- id: gift-cards')}: article 'gift-cards' is "
        "unreachable: none of its intents (gift_cards) is answered from the knowledge base by a "
        "rule or story, or another article comes first",
        f"data/kb/products.yml:{_line_of(products, 'synonyms: [jacket, kettle')}: product "
        "'camp-kettle': name or synonym 'jacket' clashes with product 'trail-jacket'",
        f"domain.yml:{_line_of(domain, '- ask_weather')}: intent 'ask_weather' is in no story or rule",
        f"domain.yml:{_line_of(domain, 'utter_never_said:')}: response 'utter_never_said' is never "
        "used (no rule, story, form or action utters it)",
    ])
    assert main(["--root", str(project), "--no-rasa"]) == 1
    assert f"domain.yml:{_line_of(domain, '- ask_weather')}:" in capsys.readouterr().err


def test_empty_keywords_and_shadowed_article(project: Path):
    escalation = project / "data" / "escalation.yml"
    text = escalation.read_text()
    start = text.index("  data_breach:")
    text = text[:start] + "  data_breach:\n    team: technical\n    keywords: []\n\n" + text[text.index("# Which team"):]
    escalation.write_text(text)
    articles = project / "data" / "kb" / "articles.yml"
    articles.write_text(articles.read_text() + (
        "\n  - id: shipping-again\n    title: Shipping again\n    team: orders\n"
        "    intents: [shipping_options]\n    body: >\n      Duplicate.\n"))
    problems = [str(p) for p in validate(project)]
    assert problems == [
        f"data/escalation.yml:{_line_of(escalation, 'keywords: []')}: policy topic 'data_breach' has no keywords",
        f"data/kb/articles.yml:{_line_of(articles, '- id: shipping-again')}: article 'shipping-again' is "
        "unreachable: none of its intents (shipping_options) is answered from the knowledge base by "
        "a rule or story, or another article comes first",
    ]
