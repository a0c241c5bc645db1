"""The demo order store behind the order-status action.

A stand-in for the shop's order API: ``data/demo/orders.yml`` maps 5-digit order
numbers to status, items, carrier and dates. Pure Python so tests need no Rasa.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

logger = logging.getLogger(__name__)

DEFAULT_ORDERS_PATH = Path(__file__).resolve().parents[1] / "data" / "demo" / "orders.yml"
_ORDER_NUMBER = re.compile(r"^(?:order\s*)?(?:no\.?\s*|number\s*)?#?\s*(\d{5})$", re.IGNORECASE)


def normalize_order_number(value: Any) -> str | None:
    """"10023", "#10023" or "order 10023" -> "10023"; None for anything else."""
    if value is None:
        return None
    match = _ORDER_NUMBER.match(str(value).strip())
    return match.group(1) if match else None


@dataclass(frozen=True)
class Order:
    """What the bot may tell a visitor about one order."""

    number: str
    status: str
    items: tuple[str, ...]
    carrier: str | None = None
    eta: str | None = None
    delivered_on: str | None = None
    tracking: str | None = None

    def describe(self) -> str:
        """A one-paragraph status for the visitor."""
        items = ", ".join(self.items) or "your items"
        if self.status == "shipped":
            text = f"Order #{self.number} ({items}) has shipped"
            if self.carrier:
                text += f" with {self.carrier}"
            if self.eta:
                text += f" and should arrive by {self.eta}"
            text += "."
            if self.tracking:
                text += f" Tracking number: {self.tracking}."
            return text
        if self.status == "delivered":
            when = f" on {self.delivered_on}" if self.delivered_on else ""
            return (f"Order #{self.number} ({items}) was delivered{when}. If you can't find it, "
                    "check with neighbours or your building's mailroom, then let me know.")
        if self.status == "processing":
            eta = f" It should arrive by {self.eta}." if self.eta else ""
            return (f"Order #{self.number} ({items}) is being packed at our warehouse and will "
                    f"ship within 1 business day.{eta}")
        if self.status == "cancelled":
            return (f"Order #{self.number} ({items}) was cancelled. Any payment was refunded "
                    "to your original payment method.")
        return f"Order #{self.number} ({items}) has the status: {self.status}."


class OrderStore:
    """Orders by number, loaded from YAML."""

    def __init__(self, orders: Mapping[str, Order]):
        self._orders = dict(orders)

    def get(self, number: Any) -> Order | None:
        """The order with this number (any accepted spelling), or None."""
        normalized = normalize_order_number(number)
        return self._orders.get(normalized) if normalized else None

    def __len__(self) -> int:
        return len(self._orders)


def load_orders(path: str | Path | None = None) -> OrderStore:
    """Read the order store; ``path`` defaults to data/demo/orders.yml."""
    path = Path(path) if path else DEFAULT_ORDERS_PATH
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    orders = {}
    for number, item in (data.get("orders") or {}).items():
        number = str(number)
        if normalize_order_number(number) != number:
            raise ValueError(f"{path}: malformed order number {number!r}")
        orders[number] = Order(
            number=number, status=str(item.get("status", "processing")),
            items=tuple(item.get("items") or ()), carrier=item.get("carrier"),
            eta=item.get("eta"), delivered_on=item.get("delivered_on"),
            tracking=item.get("tracking"))
    logger.info("demo order store loaded: %d orders", len(orders))
    return OrderStore(orders)
