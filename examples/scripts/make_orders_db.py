"""Build the example shop's SQLite database of customers, orders and policies (deterministic).

The rows are generated from a fixed seed (no outside data): 40 customers, 200 orders numbered
from 10001, each with one to three items, and the shop's refund and shipping policies. The
`order_support` flow's tools (`flows/order_tools.py`) read it.

    python scripts/make_orders_db.py                 # from examples/: .stepladder/orders.sqlite
    python scripts/make_orders_db.py --out /tmp/orders.sqlite
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[1] / ".stepladder" / "orders.sqlite"
SEED = 8
CUSTOMERS = 40
ORDERS = 200
FIRST_ORDER = 10001
FIRST_CUSTOMER = 501
TODAY = date(2025, 6, 30)

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Katherine",
    "Linus", "Margaret", "Niklaus", "Radia", "Tim", "Sophie", "Ken", "Hedy", "Dennis",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
    "Johnson", "Torvalds", "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Wilson", "Thompson",
)  # fmt: skip
CITIES = ("Lisbon", "Leeds", "Lyon", "Graz", "Porto", "Ghent", "Turin", "Bergen", "Cork")
PRODUCTS = (
    ("Desk lamp", 34.90), ("Wool blanket", 59.00), ("Coffee grinder", 89.50),
    ("Water bottle", 18.00), ("Backpack", 74.99), ("Notebook set", 12.50),
    ("Headphones", 129.00), ("Yoga mat", 29.95), ("Tea kettle", 44.00), ("Phone case", 15.99),
)  # fmt: skip
CARRIERS = ("DHL", "UPS", "Royal Mail", "La Poste")
STATUSES = (
    ("delivered", 0.45), ("shipped", 0.2), ("processing", 0.15), ("cancelled", 0.1),
    ("returned", 0.1),
)  # fmt: skip
POLICIES = {
    "refund": (
        "Refunds: items can be returned within 30 days of delivery for a full refund to the "
        "original payment method. Returned items must be unused and in their original "
        "packaging. Refunds are issued within 5 business days after the return arrives. "
        "Cancelled orders that had not shipped are refunded in full automatically. Shipping "
        "costs are not refunded, except for damaged or wrong items."
    ),
    "shipping": (
        "Shipping: orders ship within 2 business days. Standard delivery takes 3 to 5 "
        "business days; express delivery takes 1 to 2 business days and costs 9.90."
    ),
}

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL, joined TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
    placed TEXT NOT NULL, status TEXT NOT NULL, total REAL NOT NULL,
    carrier TEXT, tracking TEXT, delivered TEXT
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id), product TEXT NOT NULL,
    quantity INTEGER NOT NULL, unit_price REAL NOT NULL
);
CREATE TABLE policies (name TEXT PRIMARY KEY, text TEXT NOT NULL);
"""


def customer_rows(rng: random.Random) -> list[tuple[object, ...]]:
    """(id, name, email, city, joined) for each customer; names are unique."""
    names = sorted({f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES})
    chosen = rng.sample(names, CUSTOMERS)
    rows = []
    for offset, name in enumerate(chosen):
        email = name.lower().replace(" ", ".") + "@example.com"
        joined = TODAY - timedelta(days=rng.randint(200, 1500))
        rows.append((FIRST_CUSTOMER + offset, name, email, rng.choice(CITIES), joined.isoformat()))
    return rows


def order_rows(
    rng: random.Random, customers: list[int]
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The orders and their items."""
    orders, items = [], []
    states, weights = zip(*STATUSES, strict=True)
    for order_id in range(FIRST_ORDER, FIRST_ORDER + ORDERS):
        placed = TODAY - timedelta(days=rng.randint(1, 180))
        status = rng.choices(states, weights)[0]
        lines = [(order_id, *rng.choice(PRODUCTS)) for _ in range(rng.randint(1, 3))]
        lines = [(o, name, rng.randint(1, 3), price) for o, name, price in lines]
        total = round(sum(quantity * price for _, _, quantity, price in lines), 2)
        shipped = status in ("shipped", "delivered", "returned")
        carrier = rng.choice(CARRIERS) if shipped else None
        tracking = f"TRK{rng.randint(10**8, 10**9 - 1)}" if shipped else None
        delivered = placed + timedelta(days=rng.randint(2, 6))
        arrived = delivered.isoformat() if status in ("delivered", "returned") else None
        orders.append((order_id, rng.choice(customers), placed.isoformat(), status, total,
                       carrier, tracking, arrived))  # fmt: skip
        items.extend(lines)
    return orders, items


def build(path: Path = DEFAULT_PATH, seed: int = SEED) -> Path:
    """Write the database to `path` (replacing it) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    rng = random.Random(seed)
    customers = customer_rows(rng)
    orders, items = order_rows(rng, [row[0] for row in customers])
    with sqlite3.connect(partial) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", customers)
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", orders)
        db.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)", items)
        db.executemany("INSERT INTO policies VALUES (?, ?)", sorted(POLICIES.items()))
    partial.replace(path)
    return path


def main() -> None:
    """Build the database where `--out` says (default: the example's state folder)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="Database file.")
    parser.add_argument("--seed", type=int, default=SEED, help="Random seed.")
    args = parser.parse_args()
    print(build(args.out, args.seed))


if __name__ == "__main__":
    main()
