"""The knowledge base: help articles and product facts kept as hand-editable YAML.

Pure Python (PyYAML and the standard library only, no Rasa imports) because two
environments load it: the Rasa action server answers FAQ and product questions
from it, and the handoff bridge imports it for article suggestions while the
visitor types (``GET /api/kb/search``).

Layout of the directory passed to :func:`load_knowledge_base`::

    articles.yml   articles: [{id, title, team, intents?, tags?, keywords?, body, url?}]
    products.yml   products: [{id, name, synonyms, price, currency?, stock,
                               warranty_years, restock_days?, description?}]

Search is a small, deterministic keyword scorer (title, tags and keywords weigh
more than the body); good enough for a catalogue of a few dozen articles and
fast enough to run on every keystroke.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+")
# Words too common to say anything about which article is meant.
STOPWORDS = frozenset(
    "a an and are be can could do does for from have how i if in is it its me my "
    "of on or our please the to was what when where which will with would you your "
    "hi hello hey there this that about get want need".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stopwords, with a crude plural fold."""
    words = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return words


def normalize_name(text: str) -> str:
    """Canonical form for product names and synonyms: lower case, single spaces."""
    return " ".join(_WORD.findall(text.lower().replace("-", " ")))


@dataclass(frozen=True)
class Article:
    """One help article. ``team`` is the support team that owns the topic."""

    id: str
    title: str
    body: str
    team: str = "general"
    intents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    url: str | None = None

    @property
    def snippet(self) -> str:
        """The first sentence of the body, for suggestion lists."""
        first = re.split(r"(?<=[.!?])\s", self.body.strip(), maxsplit=1)[0]
        return first if len(first) <= 160 else first[:157].rstrip() + "..."


@dataclass(frozen=True)
class Product:
    """One catalogue item with the facts the bot may quote."""

    id: str
    name: str
    price: float
    stock: int
    warranty_years: int
    synonyms: tuple[str, ...] = ()
    currency: str = "USD"
    restock_days: int | None = None
    description: str = ""

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def price_text(self) -> str:
        symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(self.currency, "")
        return f"{symbol}{self.price:.2f}" if symbol else f"{self.price:.2f} {self.currency}"


@dataclass
class KnowledgeBase:
    """Articles and products with lookup by id, intent, product name and text search."""

    articles: list[Article] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {a.id: a for a in self.articles}
        self._by_intent: dict[str, Article] = {}
        for article in self.articles:
            for intent in article.intents:
                self._by_intent.setdefault(intent, article)
        self._products: dict[str, Product] = {}
        for product in self.products:
            for name in (product.id, product.name, *product.synonyms):
                self._products.setdefault(normalize_name(name), product)
        # Longest names first, so "sleeping bag liner" would win over "sleeping bag".
        self._product_names = sorted(self._products, key=len, reverse=True)
        self._index = {a.id: self._weighted_terms(a) for a in self.articles}

    @staticmethod
    def _weighted_terms(article: Article) -> dict[str, float]:
        terms: dict[str, float] = {}

        def add(words: Iterable[str], weight: float) -> None:
            for word in words:
                terms[word] = max(terms.get(word, 0.0), weight)

        add(tokenize(article.body), 1.0)
        add(tokenize(" ".join(article.keywords)), 2.0)
        add(tokenize(" ".join(article.tags)), 2.5)
        add(tokenize(article.title), 3.0)
        return terms

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        return self._by_id.get(article_id)

    def article_for_intent(self, intent: str) -> Article | None:
        """The article that answers this intent (``intents:`` in articles.yml)."""
        return self._by_intent.get(intent)

    def product(self, name_or_synonym: str | None) -> Product | None:
        """The product called this (id, name or synonym; case and hyphens ignored)."""
        if not name_or_synonym:
            return None
        return self._products.get(normalize_name(name_or_synonym))

    def find_product_in_text(self, text: str) -> Product | None:
        """The first product whose name or synonym occurs as whole words in text."""
        padded = f" {normalize_name(text)} "
        for name in self._product_names:
            if f" {name} " in padded:
                return self._products[name]
        return None

    def search(self, text: str, limit: int = 3) -> list[Article]:
        """Articles ranked by keyword overlap with text; empty when nothing matches."""
        query = set(tokenize(text))
        if not query or limit <= 0:
            return []
        scored = []
        for position, article in enumerate(self.articles):
            terms = self._index[article.id]
            score = sum(terms.get(word, 0.0) for word in query)
            # Prefix matches help while the visitor is still typing ("refu" -> refund).
            score += sum(0.5 for word in query if len(word) >= 4 and word not in terms
                         and any(t.startswith(word) for t in terms))
            if score > 0:
                scored.append((-score, position, article))
        scored.sort()
        return [article for _, _, article in scored[:limit]]


def _strings(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _load_yaml(path: Path, key: str) -> list[dict]:
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get(key) or []
    if not isinstance(items, list):
        raise ValueError(f"{path}: '{key}' must be a list")
    return items


def load_knowledge_base(path: str | Path) -> KnowledgeBase:
    """Read articles.yml and products.yml from the directory ``path``.

    Raises ValueError on a malformed entry or a duplicate id, so that a typo in
    a designer's edit fails loudly at start-up instead of hiding an article.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge base directory not found: {root}")
    articles, products, seen = [], [], set()
    for item in _load_yaml(root / "articles.yml", "articles"):
        try:
            article = Article(
                id=str(item["id"]), title=str(item["title"]), body=str(item["body"]).strip(),
                team=str(item.get("team", "general")), intents=_strings(item.get("intents")),
                tags=_strings(item.get("tags")), keywords=_strings(item.get("keywords")),
                url=item.get("url"))
        except KeyError as exc:
            raise ValueError(f"article {item.get('id', '?')}: missing field {exc}") from None
        if article.id in seen:
            raise ValueError(f"duplicate article id: {article.id}")
        seen.add(article.id)
        articles.append(article)
    for item in _load_yaml(root / "products.yml", "products"):
        try:
            product = Product(
                id=str(item["id"]), name=str(item["name"]), price=float(item["price"]),
                stock=int(item["stock"]), warranty_years=int(item["warranty_years"]),
                synonyms=_strings(item.get("synonyms")), currency=str(item.get("currency", "USD")),
                restock_days=item.get("restock_days"), description=str(item.get("description", "")))
        except KeyError as exc:
            raise ValueError(f"product {item.get('id', '?')}: missing field {exc}") from None
        if product.id in seen:
            raise ValueError(f"duplicate id: {product.id}")
        seen.add(product.id)
        products.append(product)
    logger.info("knowledge base loaded: %d articles, %d products", len(articles), len(products))
    return KnowledgeBase(articles, products)


DEFAULT_KB_PATH = Path(__file__).resolve().parents[1] / "data" / "kb"
