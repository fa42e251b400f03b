"""Demo data: a small believable catalog, deterministic for a given seed."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping

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
_PRICE_LOW, _PRICE_SPAN = 99, 25_000 - 99  # minor units: randrange(99, 25_000)
_QUANTITY_SPAN = 120  # randrange(0, 120)
_PRICE_BITS, _QUANTITY_BITS = _PRICE_SPAN.bit_length(), _QUANTITY_SPAN.bit_length()


def demo_products(
    count: int, seed: int = 7, category_ids: Mapping[str, int] | None = None
) -> Iterator[tuple[NewProduct, str]]:
    """`count` products with their category name; SKUs are unique and stable for a seed. `category_ids`
    (category name -> id) fills in each product's category_id; without it, it stays None.

    Valid by construction (upper-case unique SKUs, names under 200 characters, prices 0.99-249.99,
    quantities 0-119), so bulk_add takes them without a validation pass per row; the tests check a
    sample against the product rules. A million take about a second: each draw is what
    `rng.choice(seq)` / `rng.randrange(a, b)` make of `getrandbits` (rejection sampling), inlined,
    so a seed gives the same catalog as it always has."""
    bits = random.Random(seed).getrandbits
    ids = category_ids or {}
    order = list(_NOUNS)
    # product n (from 1) is in category order[n % len(order)]
    cycle = [(c, _NOUNS[c], len(_NOUNS[c]), len(_NOUNS[c]).bit_length(), f"{c[:3].upper()}-", ids.get(c))
             for c in order[1:] + order[:1]]
    adjectives, n_adj = _ADJECTIVES, len(_ADJECTIVES)
    k_adj = n_adj.bit_length()
    numbered = count > 60
    make = tuple.__new__
    for n in range(1, count + 1):
        category, nouns, n_nouns, k_nouns, prefix, category_id = cycle[(n - 1) % len(cycle)]
        noun = bits(k_nouns)
        while noun >= n_nouns:
            noun = bits(k_nouns)
        adjective = bits(k_adj)
        while adjective >= n_adj:
            adjective = bits(k_adj)
        price = bits(_PRICE_BITS)
        while price >= _PRICE_SPAN:
            price = bits(_PRICE_BITS)
        quantity = bits(_QUANTITY_BITS)
        while quantity >= _QUANTITY_SPAN:
            quantity = bits(_QUANTITY_BITS)
        name = f"{adjectives[adjective]} {nouns[noun]} {n}" if numbered else f"{adjectives[adjective]} {nouns[noun]}"
        yield make(NewProduct, (f"{prefix}{n:07d}", name, category_id, _PRICE_LOW + price, quantity, True)), category


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
