"""`stockbank stock ...` and `stockbank simulate`: the Inventory screen's non-interactive twin."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from domain.model import parse_ref
from tui_app.cli_support import Progress, emit, money, open_cli_backend, text_table, whole_number

_SKU = "the product's SKU"
_LOC = "a location name, or its id when all digits (default: the first location, Warehouse)"


def add_stock_commands(sub: argparse._SubParsersAction) -> None:
    stock = sub.add_parser("stock", help="inventory: levels, moves, sales, purchases, stocktakes, valuation")
    act = stock.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = act.add_parser("list", help="stock per product: on hand, in transit, reorder level, value at cost")
    listing.add_argument("--low", action="store_true", help="only products at or below their reorder level")
    listing.add_argument("--filter", default="", help="only products whose name or SKU contains this")
    listing.add_argument("--limit", default="100", metavar="N", help="rows to show (default 100, at most 10000)")
    act.add_parser("locations", help="the stock locations, with the stock value at each")
    add_loc = act.add_parser("add-location", help="create a stock location (a shelf, a store room, ...)")
    add_loc.add_argument("name")

    def move_args(cmd: argparse.ArgumentParser, *, location: bool = True, key: bool = True) -> None:
        if location:
            cmd.add_argument("--location", help=_LOC)
        cmd.add_argument("--memo", default="")
        if key:
            cmd.add_argument("--key", help="idempotency key: a retry with the same key is applied once")

    receive = act.add_parser("receive", help="goods arrive from a supplier: Suppliers -> location")
    receive.add_argument("sku", metavar="SKU", help=_SKU)
    receive.add_argument("quantity", metavar="QTY")
    move_args(receive)
    move = act.add_parser("move", help="move stock between two locations (with --pending: in transit)")
    move.add_argument("sku", metavar="SKU", help=_SKU)
    move.add_argument("quantity", metavar="QTY")
    move.add_argument("source", metavar="FROM", help="location name or id")
    move.add_argument("target", metavar="TO", help="location name or id")
    move.add_argument("--pending", action="store_true", help="in transit until `stock arrive ID`")
    move_args(move, location=False)
    scrap = act.add_parser("scrap", help="write stock off: location -> Scrap")
    scrap.add_argument("sku", metavar="SKU", help=_SKU)
    scrap.add_argument("quantity", metavar="QTY")
    move_args(scrap)
    count = act.add_parser("count", help="stocktake: set the counted quantity; the difference is an adjustment")
    count.add_argument("sku", metavar="SKU", help=_SKU)
    count.add_argument("counted", metavar="COUNTED")
    move_args(count, key=False)
    for name, text in (("arrive", "goods in transit arrive (receive a pending move)"),
                       ("cancel", "goods in transit will not arrive (a purchase is refunded)")):
        cmd = act.add_parser(name, help=text)
        cmd.add_argument("id", metavar="MOVE_ID")
        cmd.add_argument("--key", help="idempotency key")
    act.add_parser("transit", help="goods in transit (pending moves), oldest first")

    sell = act.add_parser("sell", help="sell to a customer: stock out and payment in, one transaction")
    sell.add_argument("sku", metavar="SKU", help=_SKU)
    sell.add_argument("quantity", metavar="QTY")
    sell.add_argument("customer", metavar="CUSTOMER", help="the paying account's name or id")
    sell.add_argument("--price", help="unit price (default: the product's price)")
    move_args(sell)
    buy = act.add_parser("buy", help="buy from a supplier: payment out and a receipt (pending with --lead-days)")
    buy.add_argument("sku", metavar="SKU", help=_SKU)
    buy.add_argument("quantity", metavar="QTY")
    buy.add_argument("supplier", metavar="SUPPLIER", help="the supplier account's name or id")
    buy.add_argument("--cost", help="unit cost (default: the product's cost)")
    buy.add_argument("--lead-days", default="0", metavar="N", help="days until the goods arrive (default 0: now)")
    move_args(buy)

    history = act.add_parser("history", help="a product's moves, newest first")
    history.add_argument("sku", metavar="SKU", help=_SKU)
    history.add_argument("--limit", default="50", metavar="N")
    history.add_argument("--archive", action="store_true", help="include archived moves")
    value = act.add_parser("value", help="stock value at cost, by category or by location")
    value.add_argument("--by", default="category", choices=("category", "location"))
    plan = act.add_parser("plan", help="set a product's unit cost and reorder level")
    plan.add_argument("sku", metavar="SKU", help=_SKU)
    plan.add_argument("--cost", help="unit cost, e.g. 4.20")
    plan.add_argument("--reorder-level", metavar="N", help="low at or below this many on hand (0: never)")

    simulate = sub.add_parser("simulate", help="advance the simulation N days (customers buy, the shop reorders)")
    simulate.add_argument("--days", default="1", metavar="N", help="days to simulate (default 1)")
    simulate.add_argument("--seed", metavar="S", help="restart the random generator from this seed")


def _move_data(m: Any) -> dict[str, Any]:
    return {
        "id": m.id, "kind": m.kind, "reason": m.reason, "product_id": m.product_id, "from_location_id": m.from_location_id,
        "to_location_id": m.to_location_id, "quantity": m.quantity, "pending_id": m.pending_id,
        "transfer_id": m.transfer_id, "due_day": m.due_day, "day": m.day, "memo": m.memo,
        "idempotency_key": m.idempotency_key, "actor": m.actor, "created_at": m.created_at,
        "from_after": m.from_after, "to_after": m.to_after,
    }


def _move_text(m: Any, names: dict[int, str]) -> str:
    where = f"{names.get(m.from_location_id, m.from_location_id)} -> {names.get(m.to_location_id, m.to_location_id)}"
    due = f", due day {m.due_day}" if m.due_day is not None else ""
    paid = f", transfer {m.transfer_id}" if m.transfer_id is not None else ""
    return f"move {m.id} {m.kind} {m.reason}: {m.quantity} x product {m.product_id} {where}{due}{paid}"


def _row_data(r: Any) -> dict[str, Any]:
    return {"product_id": r.product_id, "sku": r.sku, "name": r.name, "category": r.category, "on_hand": r.on_hand,
            "incoming": r.incoming, "reorder_level": r.reorder_level, "cost": money(r.cost_minor),
            "value": money(r.value_minor), "low": r.low}


def cmd_stock(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        _STOCK_ACTIONS[args.action](args, backend.sim)
    finally:
        backend.close()


def _names(sim: Any) -> dict[int, str]:
    return {loc.id: loc.name for loc in sim.inventory.locations(include_virtual=True)}


def _emit_move(args: argparse.Namespace, sim: Any, m: Any, extra: str = "") -> None:
    if m is None:
        emit(args, {"move": None}, "the count matches what is recorded; nothing to adjust")
        return
    emit(args, {"move_id": m.id, "move": _move_data(m)}, _move_text(m, _names(sim)) + extra)


def _list(args: argparse.Namespace, sim: Any) -> None:
    from domain.model import ProductQuery

    limit = whole_number(args.limit, "limit") or 0
    rows = sim.inventory.stock(ProductQuery(text=args.filter), limit=limit, low_only=args.low)
    table = [(r.sku, r.name, str(r.on_hand), str(r.incoming), str(r.reorder_level), money(r.value_minor),
              "LOW" if r.low else "") for r in rows]
    text = text_table(("sku", "name", "on hand", "in transit", "reorder at", "value", ""), table, {2, 3, 4, 5}) if rows else (
        "no products match" if args.filter.strip() else "no products are low on stock" if args.low else "no products yet")
    emit(args, {"rows": [_row_data(r) for r in rows]}, text)


def _locations(args: argparse.Namespace, sim: Any) -> None:
    values = {v.group_id: v for v in sim.inventory.valuation("location")}
    locations = sim.inventory.locations()
    data = [{"id": loc.id, "name": loc.name, "quantity": values[loc.id].quantity if loc.id in values else 0,
             "value": money(values[loc.id].value_minor if loc.id in values else 0)} for loc in locations]
    rows = [(str(d["id"]), d["name"], str(d["quantity"]), d["value"]) for d in data]
    emit(args, {"locations": data}, text_table(("id", "name", "units", "value"), rows, {0, 2, 3}) if rows else
         "no locations yet; the first receipt creates the Warehouse")


def _add_location(args: argparse.Namespace, sim: Any) -> None:
    loc = sim.inventory.add_location(args.name)
    emit(args, {"location": {"id": loc.id, "name": loc.name}}, f"location {loc.id} {loc.name} created")


def _location(text: str | None) -> int | str | None:
    return None if text is None else parse_ref(text)


def _receive(args: argparse.Namespace, sim: Any) -> None:
    _emit_move(args, sim, sim.inventory.receive(args.sku, args.quantity, location=_location(args.location),
                                                 memo=args.memo, idempotency_key=args.key))


def _move(args: argparse.Namespace, sim: Any) -> None:
    _emit_move(args, sim, sim.inventory.move_stock(args.sku, args.quantity, parse_ref(args.source), parse_ref(args.target),
                                                    pending=args.pending, memo=args.memo, idempotency_key=args.key))


def _scrap(args: argparse.Namespace, sim: Any) -> None:
    _emit_move(args, sim, sim.inventory.scrap(args.sku, args.quantity, location=_location(args.location),
                                               memo=args.memo, idempotency_key=args.key))


def _count(args: argparse.Namespace, sim: Any) -> None:
    _emit_move(args, sim, sim.inventory.count_stock(args.sku, args.counted, location=_location(args.location),
                                                     memo=args.memo))


def _arrive(args: argparse.Namespace, sim: Any) -> None:
    _emit_move(args, sim, sim.inventory.receive_pending(whole_number(args.id, "id"), idempotency_key=args.key))


def _cancel(args: argparse.Namespace, sim: Any) -> None:
    _emit_move(args, sim, sim.inventory.cancel_pending(whole_number(args.id, "id"), idempotency_key=args.key))


def _transit(args: argparse.Namespace, sim: Any) -> None:
    moves = sim.inventory.pending_moves()
    names = _names(sim)
    emit(args, {"moves": [_move_data(m) for m in moves]},
         "\n".join(_move_text(m, names) for m in moves) or "nothing in transit")


def _sell(args: argparse.Namespace, sim: Any) -> None:
    sale = sim.inventory.sell(args.sku, args.quantity, parse_ref(args.customer), location=_location(args.location),
                              unit_price=args.price, memo=args.memo, idempotency_key=args.key)
    t = sale.transfer
    emit(args, {"move_id": sale.move.id, "transfer_id": t.id, "move": _move_data(sale.move), "amount": money(t.amount_minor)},
         _move_text(sale.move, _names(sim)) + f"; paid {money(t.amount_minor)} {t.currency}")


def _buy(args: argparse.Namespace, sim: Any) -> None:
    lead = whole_number(args.lead_days, "lead_days") or 0
    bought = sim.inventory.purchase(args.sku, args.quantity, parse_ref(args.supplier), location=_location(args.location),
                                    unit_cost=args.cost, lead_days=lead, memo=args.memo, idempotency_key=args.key)
    t = bought.transfer
    emit(args, {"move_id": bought.move.id, "transfer_id": t.id, "move": _move_data(bought.move),
                "amount": money(t.amount_minor)},
         _move_text(bought.move, _names(sim)) + f"; paid {money(t.amount_minor)} {t.currency}")


def _history(args: argparse.Namespace, sim: Any) -> None:
    moves = sim.inventory.history(args.sku, limit=whole_number(args.limit, "limit") or 0, include_archive=args.archive)
    names = _names(sim)
    emit(args, {"moves": [_move_data(m) for m in moves]},
         "\n".join(f"day {m.day:>4}  {_move_text(m, names)}{'  ' + m.memo if m.memo else ''}" for m in moves)
         or "no moves yet")


def _value(args: argparse.Namespace, sim: Any) -> None:
    groups = sim.inventory.valuation(args.by)
    total = sum(g.value_minor for g in groups)
    rows = [(g.name or "(none)", str(g.quantity), money(g.value_minor)) for g in groups]
    emit(args, {"by": args.by, "groups": [{"id": g.group_id, "name": g.name, "quantity": g.quantity,
                                            "value": money(g.value_minor)} for g in groups], "total": money(total)},
         text_table((args.by, "units", "value at cost"), rows + [("total", str(sum(g.quantity for g in groups)), money(total))],
                {1, 2}))


def _plan(args: argparse.Namespace, sim: Any) -> None:
    row = sim.inventory.set_planning(args.sku, cost=args.cost, reorder_level=args.reorder_level)
    emit(args, {"row": _row_data(row)},
         f"{row.sku}: cost {money(row.cost_minor)}, reorder at {row.reorder_level} (on hand {row.on_hand})")


_STOCK_ACTIONS: dict[str, Callable[[argparse.Namespace, Any], None]] = {
    "list": _list, "locations": _locations, "add-location": _add_location, "receive": _receive, "move": _move,
    "scrap": _scrap, "count": _count, "arrive": _arrive, "cancel": _cancel, "transit": _transit, "sell": _sell,
    "buy": _buy, "history": _history, "value": _value, "plan": _plan,
}


def cmd_simulate(args: argparse.Namespace) -> None:
    days = whole_number(args.days, "days") or 0
    seed = whole_number(args.seed, "seed")
    backend = open_cli_backend(args)
    try:
        sim = backend.sim
        with Progress(args, "simulating", days) as bar:
            done: list[Any] = []

            def progress(report: Any) -> None:
                done.append(report)
                bar.update(len(done))

            reports = sim.simulation.advance(days, seed=seed, progress=progress)
        state = sim.simulation.state()
    finally:
        backend.close()
    totals = {k: sum(getattr(r, k) for r in reports) for k in
              ("sales", "revenue_minor", "lost_sales", "refused_sales", "orders", "spent_minor", "arrivals", "ledger_rows")}
    emit(args, {"day": state.day, "seed": state.seed, "days": [r.__dict__ for r in reports], "totals": totals},
         f"simulated {len(reports)} day(s), now day {state.day}: {totals['sales']} sales for "
         f"{money(totals['revenue_minor'])}, {totals['lost_sales']} lost (out of stock), {totals['refused_sales']} refused "
         f"(no funds); {totals['orders']} orders for {money(totals['spent_minor'])}, {totals['arrivals']} deliveries; "
         f"{totals['ledger_rows']} ledger rows")


STOCK_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {"stock": cmd_stock, "simulate": cmd_simulate}
