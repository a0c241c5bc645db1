"""The knowledge base and the demo order store, including bad input."""
from __future__ import annotations

import pytest
import yaml

from bot.knowledge import DEFAULT_KB_PATH, load_knowledge_base, normalize_name
from bot.orders import load_orders, normalize_order_number
from tests.support.processes import PROJECT_ROOT


@pytest.fixture(scope="module")
def kb():
    return load_knowledge_base(DEFAULT_KB_PATH)


def test_every_faq_intent_has_an_article(kb):
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    rules = yaml.safe_load((PROJECT_ROOT / "data" / "rules.yml").read_text())["rules"]
    faq_intents = {r["steps"][0]["intent"] for r in rules
                   if len(r["steps"]) == 2 and r["steps"][1].get("action") in
                   ("action_answer_faq", "action_product_info")}
    assert len(faq_intents) >= 17
    assert faq_intents <= set(domain["intents"])
    assert [i for i in faq_intents if kb.article_for_intent(i) is None] == []


@pytest.mark.parametrize("name, product_id", [
    ("trail jacket", "trail-jacket"), ("Rain Jacket", "trail-jacket"), ("kettle", "camp-kettle"),
    ("camping kettle", "camp-kettle"), ("2 person tent", "two-person-tent"),
    ("2-Person Tent", "two-person-tent"), ("head torch", "headlamp"),
    ("sleeping-bag", "sleeping-bag"), ("water purifier", "water-filter")])
def test_products_resolve_by_name_and_synonym(kb, name, product_id):
    assert kb.product(name).id == product_id


@pytest.mark.parametrize("name", [None, "", "canoe", "jacket kettle", "   "])
def test_unknown_products_resolve_to_none(kb, name):
    assert kb.product(name) is None


def test_products_are_found_in_free_text_longest_name_first(kb):
    assert kb.find_product_in_text("is the camping kettle any good").id == "camp-kettle"
    assert kb.find_product_in_text("my two person tent leaks").id == "two-person-tent"
    assert kb.find_product_in_text("do you sell canoes") is None


def test_search_ranks_the_matching_article_first(kb):
    assert kb.search("how do I get a return label", 3)[0].id == "returns-policy"
    assert kb.search("forgot password", 1)[0].id == "password-reset"
    assert kb.search("refu", 3)[0].id in ("refund-status", "returns-policy")
    assert [a.id for a in kb.search("card declined", 2)][0] == "failed-payment"


@pytest.mark.parametrize("query", ["", "   ", "the and of", "zzzqqq"])
def test_search_with_nothing_to_match_returns_nothing(kb, query):
    assert kb.search(query, 3) == []


def test_search_respects_the_limit(kb):
    assert len(kb.search("order", 2)) == 2
    assert kb.search("order", 0) == []


def test_article_lookup_by_id(kb):
    assert kb.article("warranty").title == "Warranty and repairs"
    assert kb.article("no-such-article") is None
    assert kb.article("shipping-options").snippet.startswith("Standard shipping (3-5 business days)")


def test_nlu_lookup_table_and_synonyms_match_the_catalogue(kb):
    data = yaml.safe_load((PROJECT_ROOT / "data" / "nlu" / "entities.yml").read_text())["nlu"]
    lookup = {normalize_name(line[2:]) for block in data if block.get("lookup") == "product"
              for line in block["examples"].splitlines() if line.strip()}
    names = {normalize_name(n) for p in kb.products for n in (p.name, *p.synonyms)}
    assert lookup == names
    for block in data:
        if "synonym" in block:
            canonical = kb.product(block["synonym"])
            for line in block["examples"].splitlines():
                if line.strip():
                    assert kb.product(line.strip()[2:]) is canonical


def test_malformed_kb_fails_loudly(tmp_path):
    (tmp_path / "articles.yml").write_text("articles:\n  - id: a\n    title: A\n")
    with pytest.raises(ValueError, match="missing field"):
        load_knowledge_base(tmp_path)
    (tmp_path / "articles.yml").write_text(
        "articles:\n  - {id: a, title: A, body: x}\n  - {id: a, title: B, body: y}\n")
    with pytest.raises(ValueError, match="duplicate"):
        load_knowledge_base(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_knowledge_base(tmp_path / "missing")


@pytest.mark.parametrize("given, expected", [
    ("10023", "10023"), (10023, "10023"), ("#10023", "10023"), (" order 10023 ", "10023"),
    ("order no. 10021", "10021"), ("1002", None), ("100234", None), ("abcde", None),
    ("10023; drop table", None), ("", None), (None, None)])
def test_order_numbers_are_normalized_or_rejected(given, expected):
    assert normalize_order_number(given) == expected


def test_order_store_lookups():
    store = load_orders()
    assert len(store) >= 5
    assert store.get("#10023").status == "shipped"
    assert store.get("99999") is None
    assert store.get("not-a-number") is None
    assert "cancelled" in store.get("10025").describe()


def test_malformed_order_store_fails_loudly(tmp_path):
    path = tmp_path / "orders.yml"
    path.write_text('orders:\n  "12": {status: shipped}\n')
    with pytest.raises(ValueError, match="malformed order number"):
        load_orders(path)
