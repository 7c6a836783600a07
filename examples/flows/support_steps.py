"""Steps of the `support_triage` flow: plain Python, each gets its reads as keyword arguments."""

import re

# First matching rule wins: more specific phrases come before general words.
RULES: list[tuple[str, tuple[str, ...]]] = [
    (
        "CANCELLATION_FEE",
        (
            "cancellation fee",
            "cancellation charge",
            "early exit fee",
            "termination fee",
            "cancellation penalt",
        ),
    ),
    ("NEWSLETTER", ("newsletter", "subscription", "subscribe", "mailing list")),
    ("SHIPPING_ADDRESS", ("shipping address", "delivery address", "address")),
    ("REFUND", ("refund", "money back", "reimburse", "compensation")),
    ("INVOICE", ("invoice", "bill", "receipt")),
    ("PAYMENT", ("payment", "pay", "credit card", "debit card")),
    ("DELIVERY", ("deliver", "shipping option", "shipping method", "arrive", "ship")),
    (
        "CONTACT",
        (
            "human",
            "agent",
            "customer service",
            "customer support",
            "speak",
            "talk to",
            "call you",
            "contact",
        ),
    ),
    ("FEEDBACK", ("complain", "complaint", "review", "feedback", "opinion", "dissatisf")),
    (
        "ACCOUNT",
        (
            "account",
            "password",
            "sign up",
            "signup",
            "register",
            "registration",
            "profile",
            "log in",
            "login",
            "user",
        ),
    ),
    ("ORDER", ("order", "purchase", "buy", "bought", "cancel")),
]

REPLIES = {
    "ACCOUNT": "I can help with your account. Please sign in and open Account Settings.",
    "ORDER": "I can help with your order{order}. Open Order History to see or change it.",
    "REFUND": "I can help with your refund{order}. Refunds reach you in 5-7 business days.",
    "DELIVERY": "Here are our delivery options{order}: standard (3-5 days) and express (1-2).",
    "INVOICE": "Your invoices{order} are under Billing > Invoices in your account.",
    "PAYMENT": "We accept credit and debit cards and PayPal; see Billing > Payment methods.",
    "CONTACT": "Our team is available 9:00-18:00 by chat or phone; I can connect you now.",
    "SHIPPING_ADDRESS": "You can set or change the shipping address{order} in Addresses.",
    "CANCELLATION_FEE": "Cancellation fees are listed under Terms > Cancellations.",
    "FEEDBACK": "Thank you for your feedback; it goes straight to our service team.",
    "NEWSLETTER": "You can manage your newsletter subscription under Preferences.",
}

ORDER_ID = re.compile(r"(?:#|\b)([A-Z]{0,3}-?\d{5,})\b", re.IGNORECASE)


def normalize(message: str) -> str:
    """Lower-case the message and collapse whitespace."""
    return " ".join(message.lower().split())


def categorize(text: str) -> dict[str, str | None]:
    """Pick the first category with a keyword that starts a word of the text."""
    for category, keywords in RULES:
        for keyword in keywords:
            if re.search(rf"\b{re.escape(keyword)}", text):
                return {"category": category, "matched": keyword}
    return {"category": "UNKNOWN", "matched": None}


def extract_order_id(message: str) -> str | None:
    """Find an order number such as 113542617735902 or #ORD-12345."""
    match = ORDER_ID.search(message)
    return match.group(1) if match else None


def draft_reply(category: str, order_id: str | None) -> str:
    """Fill the reply template of the category."""
    order = f" {order_id}" if order_id else ""
    return REPLIES[category].format(order=order)


def hand_off(message: str) -> dict[str, str]:
    """No rule fits: a person answers."""
    return {
        "reply": "Thanks for your message; a member of our team will answer shortly.",
        "handled_by": "human",
    }


# The `multi_support` flow: split a message into its questions, merge the per-question answers.
QUESTION_BREAK = re.compile(r"[?!;]|\s+also,?\s+", re.IGNORECASE)


def split_questions(message: str) -> list[str]:
    """The questions of a message: split at ?, !, ; and "also"."""
    parts = (part.strip(" .,") for part in QUESTION_BREAK.split(message))
    return [part for part in parts if len(part) > 2]


def pack_part(
    message: str, category: str, entity_type: str | None, entity_value: str | None
) -> dict[str, dict[str, str | None]]:
    """One question's answer as a record."""
    answer = {"question": message, "category": category}
    return {"answer": {**answer, "entity_type": entity_type, "entity_value": entity_value}}


def merge_answers(answers: list[dict[str, str | None]]) -> dict[str, object]:
    """The categories and entities of all questions, and one reply covering each."""
    lines = []
    for number, answer in enumerate(answers, start=1):
        entity = f" ({answer['entity_value']})" if answer.get("entity_value") else ""
        lines.append(f"{number}. {answer['category']}{entity}: {answer['question']}")
    return {
        "categories": [str(answer["category"]) for answer in answers],
        "entities": [str(a["entity_value"]) for a in answers if a.get("entity_value")],
        "reply": "Thanks for your message. We read these questions:\n" + "\n".join(lines),
    }
