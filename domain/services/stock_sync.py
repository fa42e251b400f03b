"""Keeping the stock ledger in step with the catalog: the default and virtual locations, the
adjustments a product form or an import implies, the write-off before a delete. A module of its
own (no bank) so the catalog can use it without loading the inventory service at start-up."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from domain.errors import InUse
from domain.model import Product
from domain.model.stock import (
    ADJUST,
    ADJUSTMENT,
    DEFAULT_LOCATION,
    INTERNAL,
    POSTED,
    SCRAP,
    SCRAP_REASON,
    VIRTUAL_NAMES,
    Location,
    NewStockMove,
)
from domain.services.context import ServiceContext

if TYPE_CHECKING:
    from domain.ports import UnitOfWork


def default_location(ctx: ServiceContext, uow: UnitOfWork) -> Location:
    found = uow.locations.first_of_kind(INTERNAL)
    if found is None:
        found = uow.locations.add(DEFAULT_LOCATION, INTERNAL)
        ctx.audit(uow, "location", found.id, "create", after=found)
    return found


def virtual_location(ctx: ServiceContext, uow: UnitOfWork, kind: str) -> Location:
    found = uow.locations.first_of_kind(kind)
    if found is None:
        found = uow.locations.add(VIRTUAL_NAMES[kind], kind)
        ctx.audit(uow, "location", found.id, "create", after=found)
    return found


def reconcile_counts(ctx: ServiceContext, uow: UnitOfWork, skus: list[str], memo: str) -> int:
    """Post adjustments (at the default location) so the listed products' stock ledgers agree with
    the totals the catalog just wrote: how a product form's or an import's quantity becomes stock.

    Raises: InsufficientStock (the new total is below what other locations hold).
    """
    if not skus:
        return 0
    location = default_location(ctx, uow)
    adjustment = virtual_location(ctx, uow, ADJUSTMENT)
    template = NewStockMove(POSTED, ADJUST, 0, 0, 0, 0, None, None, None, uow.game.get().day, memo,
                            None, ctx.actor, ctx.now(), None, None)
    posted = uow.stock.reconcile(skus, location.id, adjustment.id, template)
    if posted:
        ctx.audit(uow, "stock_move", "*", "reconcile", after={"memo": memo, "adjusted": posted})
    return posted


def write_off(ctx: ServiceContext, uow: UnitOfWork, product: Product) -> None:
    """Before a product is purged: scrap what is on hand so the ledger still adds up.

    Raises: InUse (goods in transit: receive or cancel them first).
    """
    if uow.stock.pending_moves(product.id):
        raise InUse(f"{product.sku} has goods in transit; receive or cancel them first")
    levels = [lv for lv in uow.stock.levels_of([product.id]) if lv.on_hand]
    if not levels:
        return
    scrap = virtual_location(ctx, uow, SCRAP)
    day = uow.game.get().day
    for lv in levels:
        after = uow.stock.apply(product.id, lv.location_id, on_hand=-lv.on_hand)
        move = uow.stock.add_move(NewStockMove(
            POSTED, SCRAP_REASON, product.id, lv.location_id, scrap.id, lv.on_hand, None, None, None, day,
            f"written off: {product.sku} purged", str(uuid.uuid4()), ctx.actor, ctx.now(), after, None,
        ))
        ctx.audit(uow, "stock_move", move.id, SCRAP_REASON, after=move)
