"""The dashboard contract: daily trade, top sellers, the summary and the chart series read the same on every
adapter (the `sim` fixture is parametrized over them in tests/conftest.py), net of undone sales and cancelled
purchases, within one tenant, and bad arguments are refused with a `validation` error."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as with_fields

import pytest

from domain import Simulator
from domain.errors import ValidationError
from domain.model.dashboard import DailyTrade, SeriesPoint, TopSeller


@dataclass(frozen=True)
class Trade:
    apple: int
    pear: int
    shop: int
    carol: int
    acme: int


def set_day(sim: Simulator, day: int) -> None:
    """Move the game clock without simulating customers (the simulation would trade at random)."""
    with sim.store.unit_of_work(sim.tenant, write=True) as uow:
        state = uow.game.get()
        uow.game.save(with_fields(state, day=day), state.version)
        uow.commit()


@pytest.fixture
def trade(sim: Simulator) -> Trade:
    """Day 0: 2 apples sold (4.00), 5 pears bought (10.00). Day 1: 3 apples sold (6.00), 2 pears ordered for
    day 3 (4.00), 1 pear ordered for day 2 (2.00). Day 2: the 2-pear order cancelled, the 1-pear order
    received (no new trade), the day-0 sale undone."""
    apple = sim.catalog.add_product("APL-1", "Apple", "2.00", quantity=10).id
    pear = sim.catalog.add_product("PER-1", "Pear", "3.00").id
    sim.inventory.set_planning(apple, cost="1.20", reorder_level=7)
    sim.inventory.set_planning(pear, cost="2.00")
    shop = sim.bank.open_account("Shop", kind="shop", opening_balance="100.00").id
    carol = sim.bank.open_account("Carol", kind="customer", opening_balance="50.00").id
    acme = sim.bank.open_account("Acme", kind="supplier").id
    first_sale = sim.inventory.sell(apple, 2, carol).move
    sim.inventory.purchase(pear, 5, acme)
    set_day(sim, 1)
    sim.inventory.sell(apple, 3, carol)
    cancelled = sim.inventory.purchase(pear, 2, acme, lead_days=2).move
    arriving = sim.inventory.purchase(pear, 1, acme, lead_days=1).move
    set_day(sim, 2)
    sim.inventory.cancel_pending(cancelled.id)
    sim.inventory.receive_pending(arriving.id)
    sim.inventory.reverse(first_sale.id)
    return Trade(apple, pear, shop, carol, acme)


def test_daily_trade_is_net_per_day_with_the_bank_legs_money(sim: Simulator, trade: Trade) -> None:
    with sim.store.unit_of_work(sim.tenant) as uow:
        assert uow.stock.daily_trade(0, 2) == [
            DailyTrade(0, 2, 400, 5, 1000),
            DailyTrade(1, 3, 600, 3, 600),
            DailyTrade(2, -2, -400, -2, -400),
        ]
        assert uow.stock.daily_trade(1, 1) == [DailyTrade(1, 3, 600, 3, 600)]
        assert uow.stock.daily_trade(3, 9) == []


def test_top_sellers_rank_by_net_units_and_leave_out_what_was_undone(sim: Simulator, trade: Trade) -> None:
    pear_sale = sim.inventory.sell(trade.pear, 1, trade.carol).move  # day 2: one pear, 3.00
    with sim.store.unit_of_work(sim.tenant) as uow:
        assert uow.stock.top_sellers(0, 2, 5) == [TopSeller(trade.apple, "APL-1", "Apple", 3, 600),
                                                  TopSeller(trade.pear, "PER-1", "Pear", 1, 300)]
        assert uow.stock.top_sellers(0, 2, 1) == [TopSeller(trade.apple, "APL-1", "Apple", 3, 600)]
        assert uow.stock.top_sellers(2, 2, 5) == [TopSeller(trade.pear, "PER-1", "Pear", 1, 300)]  # apple: -2
    sim.inventory.reverse(pear_sale.id)
    with sim.store.unit_of_work(sim.tenant) as uow:
        assert uow.stock.top_sellers(2, 2, 5) == []


def test_an_undo_of_an_undo_counts_as_trade_again(sim: Simulator, trade: Trade) -> None:
    """Reversing a reversal sells (or buys) again: the sign follows the goods, not the reversal link."""
    set_day(sim, 3)
    sale = sim.inventory.sell(trade.apple, 1, trade.carol).move
    bought = sim.inventory.purchase(trade.pear, 1, trade.acme).move
    for move in (sale, bought):
        sim.inventory.reverse(sim.inventory.reverse(move.id).id)
    with sim.store.unit_of_work(sim.tenant) as uow:
        # each: +1 traded, -1 undone, +1 redone
        assert uow.stock.daily_trade(3, 3) == [DailyTrade(3, 1, 200, 1, 200)]
        assert uow.stock.top_sellers(3, 3, 5) == [TopSeller(trade.apple, "APL-1", "Apple", 1, 200)]


def test_the_summary_reads_every_figure_of_the_shop(sim: Simulator, trade: Trade) -> None:
    sim.bank.transfer(trade.carol, trade.shop, "1.50", pending=True)
    s = sim.dashboard.summary(days=5, rows=5)
    assert (s.day, s.first_day, s.currency, s.shop_id) == (2, 0, "EUR", trade.shop)
    assert s.cash_minor == sim.bank.get_account(trade.shop).balance
    assert s.stock_value_minor == sim.inventory.stock_value()
    assert s.products == 2
    assert s.low_stock_count == 1 and [r.product_id for r in s.low_stock] == [trade.apple]  # 7 on hand, level 7
    assert (s.pending_count, s.pending_minor) == (1, 150)
    assert [t.product_id for t in s.top_sellers] == [trade.apple]
    assert [t.day for t in s.trade] == [0, 1, 2]
    assert s.last_change == sim.audit.entries(limit=1)[0].id
    assert sim.dashboard.last_change() == s.last_change
    sim.bank.deposit(trade.carol, "1.00")
    assert sim.dashboard.last_change() > s.last_change  # any write shows as a change


def test_days_without_trade_are_zeros_and_the_span_ends_today(sim: Simulator, trade: Trade) -> None:
    set_day(sim, 6)
    s = sim.dashboard.summary(days=3)
    assert s.first_day == 4
    assert s.trade == (DailyTrade(4, 0, 0, 0, 0), DailyTrade(5, 0, 0, 0, 0), DailyTrade(6, 0, 0, 0, 0))
    assert s.top_sellers == ()


def test_a_new_tenant_has_an_empty_dashboard(sim: Simulator) -> None:
    s = sim.dashboard.summary()
    assert (s.day, s.currency, s.shop_id, s.cash_minor, s.stock_value_minor, s.products) == (0, None, None, 0, 0, 0)
    assert (s.low_stock, s.pending, s.top_sellers, s.trade) == ((), (), (), (DailyTrade(0, 0, 0, 0, 0),))


def test_another_tenants_trade_is_not_counted(sim: Simulator, trade: Trade) -> None:
    other = Simulator(sim.store, actor="tester", tenant="t2", clock=sim.ctx.clock)
    apple = other.catalog.add_product("APL-1", "Apple", "9.00", quantity=50).id
    buyer = other.bank.open_account("Dan", kind="customer", opening_balance="500.00").id
    other.bank.open_account("Shop", kind="shop")
    other.inventory.sell(apple, 20, buyer)
    assert [t.units for t in sim.dashboard.summary().top_sellers] == [3]
    assert [(t.units, t.sales_minor) for t in other.dashboard.summary().top_sellers] == [(20, 18000)]


def test_stock_series_walks_the_total_on_hand_back_from_today(sim: Simulator, trade: Trade) -> None:
    # apple: 10 opening, -2 sold, -3 sold, +2 the sale undone
    assert sim.dashboard.stock_series(trade.apple) == [SeriesPoint("day 0", 10), SeriesPoint("day 0", 8),
                                                        SeriesPoint("day 1", 5), SeriesPoint("day 2", 7)]
    # pear: +5 bought, pending +2 and +1 (in transit, not on hand), cancelled, received +1
    assert [p.value for p in sim.dashboard.stock_series(trade.pear)] == [5, 5, 5, 5, 6]
    assert [p.value for p in sim.dashboard.stock_series("PER-1", points=2)] == [5, 6]


def test_balance_series_is_the_statement_oldest_first(sim: Simulator, trade: Trade) -> None:
    lines = sim.bank.statement(trade.shop, limit=100)
    series = sim.dashboard.balance_series(trade.shop)
    assert [p.value for p in series] == [line.balance_after for line in reversed(lines)]
    assert series[-1].value == sim.bank.get_account(trade.shop).balance
    assert len(sim.dashboard.balance_series("Shop", points=2)) == 2


@pytest.mark.parametrize(("call", "field"), [
    (lambda d: d.summary(days=0), "days"),
    (lambda d: d.summary(days=367), "days"),
    (lambda d: d.summary(days=True), "days"),
    (lambda d: d.summary(days="30"), "days"),
    (lambda d: d.summary(rows=0), "rows"),
    (lambda d: d.balance_series(1, points=0), "points"),
    (lambda d: d.stock_series(1, points=1001), "points"),
    (lambda d: d.stock_series(1.5), "product"),
    (lambda d: d.balance_series(None), "account"),
])
def test_bad_arguments_are_refused_with_a_validation_error(sim: Simulator, trade: Trade, call, field: str) -> None:
    before = sim.audit.entries(limit=1)[0].id
    with pytest.raises(ValidationError) as refused:
        call(sim.dashboard)
    assert refused.value.code == "validation" and refused.value.field == field
    assert sim.audit.entries(limit=1)[0].id == before


def test_an_unknown_account_or_product_is_not_found(sim: Simulator, trade: Trade) -> None:
    for call in (lambda: sim.dashboard.balance_series(10**9), lambda: sim.dashboard.stock_series("NOPE-1")):
        with pytest.raises(Exception) as refused:
            call()
        assert refused.value.code == "not_found"  # type: ignore[attr-defined]
