"""Steps of the triage test flow."""

from pydantic import BaseModel


class Ticket(BaseModel):
    text: str
    priority: int = 0


def normalize(ticket: Ticket) -> str:
    return " ".join(ticket.text.lower().split())


def categorize(text: str) -> dict[str, object]:
    if "refund" in text:
        return {"category": "billing", "tags": ["money"]}
    if "late" in text or "where is" in text:
        return {"category": "shipping", "tags": ["parcel"]}
    return {"category": "other", "tags": []}


def billing(text: str) -> str:
    return f"billing team: {text}"


def shipping(text: str) -> str:
    return f"shipping team: {text}"


async def human(text: str) -> str:
    return f"human review: {text}"


def audit(tags: list[str]) -> list[str]:
    return ["audited"]


def by_priority(state: dict[str, object]) -> str:
    ticket = state["ticket"]
    assert isinstance(ticket, Ticket)
    return "urgent" if ticket.priority > 2 else "normal"
