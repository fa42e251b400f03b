"""Demo data: a small believable catalog, deterministic for a given seed."""

from __future__ import annotations

import random
from collections.abc import Iterator

from domain.model import NewProduct

CATEGORIES: tuple[tuple[str, str | None], ...] = (
    ("Tools", None),
    ("Hand tools", "Tools"),
    ("Power tools", "Tools"),
    ("Garden", None),
    ("Kitchen", None),
    ("Office", None),
)
_NOUNS = {
    "Hand tools": ("Hammer", "Screwdriver", "Wrench", "Pliers", "Chisel", "Saw", "Tape measure", "Spirit level"),
    "Power tools": ("Drill", "Jigsaw", "Sander", "Angle grinder", "Heat gun", "Router"),
    "Garden": ("Rake", "Hose", "Trowel", "Watering can", "Pruner", "Seed tray", "Wheelbarrow"),
    "Kitchen": ("Whisk", "Ladle", "Colander", "Peeler", "Grater", "Chopping board", "Kettle"),
    "Office": ("Stapler", "Notebook", "Desk lamp", "Binder", "Pen set", "Paper tray"),
}
_ADJECTIVES = ("Classic", "Compact", "Heavy-duty", "Pro", "Eco", "Mini", "Deluxe", "Steel", "Oak", "Blue")


def demo_products(count: int, seed: int = 7) -> Iterator[tuple[NewProduct, str]]:
    """`count` products with their category name; SKUs are unique and stable for a seed."""
    rng = random.Random(seed)
    categories = list(_NOUNS)
    for n in range(1, count + 1):
        category = categories[n % len(categories)]
        noun = rng.choice(_NOUNS[category])
        name = f"{rng.choice(_ADJECTIVES)} {noun}" + (f" {n}" if count > 60 else "")
        sku = f"{category[:3].upper()}-{n:07d}"
        price = rng.randrange(99, 25_000)
        quantity = rng.randrange(0, 120)
        yield NewProduct(sku, name, None, price, quantity, True), category


# name, kind, opening balance (minor units)
ACCOUNTS: tuple[tuple[str, str, int], ...] = (
    ("Shop", "shop", 50_000),
    ("Acme Supplies", "supplier", 0),
    ("Alice", "customer", 25_000),
    ("Bob", "customer", 12_000),
    ("Carol", "customer", 40_000),
)


def demo_plan(price_minor: int, rng: random.Random) -> tuple[int, int]:
    """A believable (unit cost, reorder level) for a product: cost 50-70 % of the price."""
    return price_minor * rng.randint(50, 70) // 100, rng.randint(5, 25)
