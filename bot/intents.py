"""Human-readable names of the intents, for clarifying questions and handoff summaries.

Pure Python so that the action server, the escalation detector and the bridge can
share one wording.
"""

LABELS = {
    "order_status": "where my order is",
    "shipping_options": "shipping options and delivery times",
    "returns_policy": "returns and refunds",
    "refund_status": "the status of a refund",
    "cancel_order": "cancelling an order",
    "change_address": "changing the delivery address",
    "payment_methods": "payment methods",
    "payment_failed": "a failed payment",
    "invoice": "invoices and receipts",
    "password_reset": "resetting a password",
    "account_locked": "a locked account",
    "delete_account": "deleting an account or personal data",
    "update_account": "updating account details",
    "opening_hours": "opening hours and contact",
    "warranty": "warranty and repairs",
    "product_availability": "whether a product is in stock",
    "discounts": "discounts and promo codes",
    "complaint": "a complaint",
    "request_human": "talking to a person",
}


def label(intent: str | None) -> str:
    """A short phrase for the intent ("where my order is"), or the raw name."""
    if not intent:
        return "something else"
    return LABELS.get(intent, intent.replace("_", " "))
