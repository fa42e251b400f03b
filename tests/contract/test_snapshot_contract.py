"""The snapshot contract (issue #6, save/load): `uow.snapshot.dump()` reads a tenant's whole books and
`uow.snapshot.replace()` writes them back, the same on every adapter (the `store` fixture is
parametrized over all of them in tests/conftest.py).

A rich shop (nested categories, soft-deleted and purged products, plans, a soft-deleted account,
posted, pending, resolved and reversed transfers, goods in transit, sales, purchases, simulated days,
archived rows and an attachment) is dumped and loaded into other tenants. A load must pass `check()`,
equal the original up to a consistent renaming of ids, hand out only ids the store never gave before,
wipe what the target held, leave other tenants and the audit log alone, roll back whole, keep archived
rows archived and idempotency keys working, keep attachments by SKU, and refuse a dangling reference
(`corrupt`) without writing anything.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model import ProductQuery
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.ports import Store
from storage import open_store
from tests.conftest import fresh_store_url, pg_capture, pg_restore

SOURCE, TARGET, BYSTANDER = "t1", "t2", "t3"
EVERYTHING = ProductQuery(include_inactive=True, deleted=None)
GONE = 10**9  # an id no test snapshot holds
PAYLOAD = bytes(range(256)) * 3


# -- helpers ----------------------------------------------------------------------------------------


def dump(store: Store, tenant: str) -> TenantSnapshot:
    with store.unit_of_work(tenant) as uow:
        return uow.snapshot.dump()


def load(store: Store, tenant: str, snapshot: TenantSnapshot) -> None:
    with store.unit_of_work(tenant, write=True) as uow:
        uow.snapshot.replace(snapshot)
        uow.commit()


def audit_entries(store: Store, tenant: str) -> list[Any]:
    with store.unit_of_work(tenant) as uow:
        return list(uow.audit.stream())


def ids_by_kind(s: TenantSnapshot) -> dict[str, list[int]]:
    """Every id a snapshot uses, per kind; a stock move may name a purged product, which counts too."""
    return {
        "category": [c.id for c in s.categories],
        "product": sorted({p.id for p in s.products} | {m.product_id for m in s.moves}),
        "account": [a.id for a in s.accounts],
        "transfer": [t.id for t in s.transfers],
        "location": [loc.id for loc in s.locations],
        "move": [m.id for m in s.moves],
    }


def highest(snapshots: Iterable[TenantSnapshot]) -> dict[str, int]:
    """The highest id of each kind over some snapshots."""
    top = {kind: 0 for kind in ids_by_kind(TenantSnapshot())}
    for s in snapshots:
        for kind, ids in ids_by_kind(s).items():
            top[kind] = max([top[kind], *ids])
    return top


def by_rank(s: TenantSnapshot) -> TenantSnapshot:
    """The snapshot with every id replaced by its rank within its kind (references renamed alike), user
    ids by their rank and the game's version zeroed: two snapshots are equal up to a consistent renaming
    of ids exactly when their by_rank() are equal."""
    ranks = {kind: {old: n for n, old in enumerate(sorted(set(ids)), start=1)} for kind, ids in ids_by_kind(s).items()}

    def r(kind: str, old: int | None) -> int | None:
        return None if old is None else ranks[kind][old]

    return TenantSnapshot(
        categories=tuple(replace(c, id=r("category", c.id), parent_id=r("category", c.parent_id)) for c in s.categories),
        products=tuple(replace(p, id=r("product", p.id), category_id=r("category", p.category_id)) for p in s.products),
        plans=tuple(ProductPlan(r("product", p.product_id), p.cost_minor, p.reorder_level) for p in s.plans),
        accounts=tuple(replace(a, id=r("account", a.id)) for a in s.accounts),
        transfers=tuple(
            replace(t, id=r("transfer", t.id), debit_account_id=r("account", t.debit_account_id),
                    credit_account_id=r("account", t.credit_account_id), pending_id=r("transfer", t.pending_id),
                    reverses_id=r("transfer", t.reverses_id))
            for t in s.transfers
        ),
        archived_transfer_ids=frozenset(r("transfer", i) for i in s.archived_transfer_ids),
        locations=tuple(replace(loc, id=r("location", loc.id)) for loc in s.locations),
        levels=tuple(lv._replace(product_id=r("product", lv.product_id), location_id=r("location", lv.location_id))
                     for lv in s.levels),
        moves=tuple(
            replace(m, id=r("move", m.id), product_id=r("product", m.product_id),
                    from_location_id=r("location", m.from_location_id), to_location_id=r("location", m.to_location_id),
                    pending_id=r("move", m.pending_id), transfer_id=r("transfer", m.transfer_id),
                    reverses_id=r("move", m.reverses_id))
            for m in s.moves
        ),
        archived_move_ids=frozenset(r("move", i) for i in s.archived_move_ids),
        game=replace(s.game, version=0),
        users=tuple(replace(u, id=n) for n, u in enumerate(s.users, start=1)),
    )


def shop_sim(store: Store, tenant: str, clock: FixedClock | None = None) -> Simulator:
    return Simulator(store, actor="tester", tenant=tenant, clock=clock or FixedClock())


def build_rich_shop(sim: Simulator) -> None:
    """Every kind of row a shop can hold, some archived; the two purged products have the lowest and the
    highest product id, and only stock moves name them."""
    cat, bank, inv = sim.catalog, sim.bank, sim.inventory
    cat.add_category("Tools")
    cat.add_category("Hand tools", "Tools")
    power = cat.add_category("Power tools")
    cat.add_category("Workshop")
    cat.update_category(power.id, power.version, parent="Workshop")  # a parent with a higher id than its child
    cat.add_category("Garden")
    first = cat.add_product("FST-1", "First", "1.00", quantity=1)  # purged below: the lowest product id
    apple = cat.add_product("APL-1", "Apple", "2.00", category="Hand tools", quantity=40)
    pear = cat.add_product("PER-1", "Pear", "3.00", category="Power tools", quantity=30)
    saw = cat.add_product("SAW-1", "Saw", "20.00", category="Tools", quantity=5)
    old = cat.add_product("OLD-1", "Old stock", "1.00", quantity=2)
    cat.add_product("INA-1", "Inactive", "4.00", active=False)
    inv.set_planning(apple.id, cost="1.20", reorder_level=40)
    inv.set_planning(pear.id, cost="2.00", reorder_level=5)
    inv.add_location("Shelf")
    bank.open_account("Shop", kind="shop", opening_balance="500.00")
    bank.open_account("Carol", kind="customer", opening_balance="200.00")
    bank.open_account("Dan", kind="customer", opening_balance="100.00", overdraft_limit="20.00")
    bank.open_account("Acme", kind="supplier")  # one supplier: the simulation picks one by product id modulo their count
    eve = bank.open_account("Eve")
    bank.delete_account(eve.id, eve.version)
    bank.transfer("Carol", "Shop", "12.00", memo="order 1", idempotency_key="pay-1")
    held = bank.transfer("Dan", "Shop", "30.00", pending=True, idempotency_key="hold-1")
    bank.post(held.id)
    dropped = bank.transfer("Carol", "Shop", "5.00", pending=True)
    bank.void(dropped.id)
    wrong = bank.transfer("Carol", "Dan", "3.00", memo="wrong payee")
    bank.reverse(wrong.id, "wrong payee")
    inv.move_stock(apple.id, 5, "Warehouse", "Shelf", idempotency_key="mv-1")
    transit = inv.move_stock(apple.id, 3, "Warehouse", "Shelf", pending=True)
    inv.receive_pending(transit.id)
    inv.sell(apple.id, 2, "Carol", idempotency_key="sale-1")
    inv.purchase(pear.id, 4, "Acme")
    scrapped = inv.scrap(saw.id, 1)
    inv.reverse(scrapped.id, "found it")
    cut = sim.ctx.now()[:19]
    bank.transfer("Dan", "Shop", "7.00", pending=True, idempotency_key="hold-open")  # stays pending
    inv.move_stock(pear.id, 2, "Warehouse", "Shelf", pending=True)  # stays in transit
    inv.purchase(saw.id, 1, "Acme", unit_cost="15.00", lead_days=2)  # a pending receipt, due on day 2
    cat.delete_product(old.id)  # soft-deleted, keeps its stock
    sim.simulation.advance(4, seed=5)
    doomed = cat.add_product("TMP-1", "Short-lived", "1.00", quantity=3)
    inv.move_stock(doomed.id, 1, "Warehouse", "Shelf")
    cat.delete_product(doomed.id)
    cat.purge_product(doomed.id)  # its stock moves stay and name a product that is gone
    cat.delete_product(first.id)
    cat.purge_product(first.id)
    report = sim.lifecycle.archive(cut)
    assert report.transfers and report.moves
    sim.attachments.attach(apple.id, "apple.txt", PAYLOAD)
    assert sim.check().ok, sim.check().problems


def build_small_shop(sim: Simulator) -> None:
    """Different rows (and SKUs) from the rich shop, some archived, a level and an attachment."""
    sim.catalog.add_category("Misc")
    nut = sim.catalog.add_product("NUT-1", "Nut", "0.10", category="Misc", quantity=100)
    sim.catalog.add_product("APL-1", "Apple from elsewhere", "9.00", quantity=1)
    sim.inventory.set_planning(nut.id, cost="0.05", reorder_level=10)
    sim.bank.open_account("Shop", kind="shop", opening_balance="10.00")
    sim.bank.open_account("Zed", opening_balance="5.00")
    sim.bank.transfer("Zed", "Shop", "1.00", idempotency_key="pay-1", memo="not the same payment")
    sim.inventory.add_location("Back room")
    sim.inventory.move_stock(nut.id, 10, "Warehouse", "Back room", pending=True)
    sim.lifecycle.archive(sim.ctx.now()[:19])
    sim.simulation.advance(1, seed=9)
    sim.attachments.attach("APL-1", "elsewhere.txt", b"elsewhere")
    sim.attachments.attach("NUT-1", "nut.txt", b"nut")
    assert sim.check().ok, sim.check().problems


@dataclass(frozen=True)
class RichTemplate:
    """The rich shop built once per store kind in this process: its folder (database file, attachment
    files), the rows of a PostgreSQL one, and the moment its clock had reached."""

    folder: Path
    pg_state: list | None
    resume_at: datetime


_RICH_TEMPLATES: dict[str, RichTemplate] = {}
_NO_TEMPLATE = {"memory"}  # nothing to copy; building it costs a few milliseconds


def rich_template(kind: str) -> RichTemplate:
    if kind not in _RICH_TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix=f"sbt-rich-{kind}-"))
        url = fresh_store_url(kind, folder)
        built = open_store(url)
        clock = FixedClock()
        build_rich_shop(shop_sim(built, SOURCE, clock))
        built.close()
        _RICH_TEMPLATES[kind] = RichTemplate(folder, pg_capture(url) if kind == "postgres" else None, clock.now())
    return _RICH_TEMPLATES[kind]


@pytest.fixture(scope="module", autouse=True)
def _remove_rich_templates() -> Iterator[None]:
    yield
    while _RICH_TEMPLATES:
        shutil.rmtree(_RICH_TEMPLATES.popitem()[1].folder, ignore_errors=True)


@pytest.fixture
def store(request: pytest.FixtureRequest, store_url: str, tmp_path: Path) -> Iterator[Store]:
    """The conftest `store`, except that a test asking for `rich` gets it as a copy of the rich shop built
    once per store kind (files copied, PostgreSQL rows restored): 0.6–1.3 s a test less."""
    kind = request.node.callspec.params["store_url"]
    if "rich" in request.fixturenames and kind not in _NO_TEMPLATE:
        template = rich_template(kind)
        shutil.copytree(template.folder, tmp_path, dirs_exist_ok=True)
        if template.pg_state is not None:
            pg_restore(store_url, template.pg_state)
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def rich(request: pytest.FixtureRequest, store: Store) -> Simulator:
    """The rich shop in `store`, with a clock that goes on from where the build left it."""
    kind = request.node.callspec.params["store_url"]
    if kind in _NO_TEMPLATE:
        sim = shop_sim(store, SOURCE)
        build_rich_shop(sim)
        return sim
    return shop_sim(store, SOURCE, FixedClock(rich_template(kind).resume_at))


def statement_sizes(sim: Simulator) -> dict[tuple[str, bool], int]:
    return {(a.name, archive): len(sim.bank.statement(a.id, limit=10_000, include_archive=archive))
            for a in sim.bank.accounts(include_deleted=True) for archive in (False, True)}


def history_sizes(sim: Simulator) -> dict[tuple[str, bool], int]:
    return {(p.sku, archive): len(sim.inventory.history(p.id, limit=10_000, include_archive=archive))
            for p in sim.catalog.find_products(EVERYTHING, limit=10_000) for archive in (False, True)}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def same_but_random_keys(s: TenantSnapshot) -> TenantSnapshot:
    """The snapshot with the random part of generated idempotency keys (an opening balance's) blanked."""
    def blank(row: Any) -> Any:
        key = row.idempotency_key
        return replace(row, idempotency_key=key and _UUID.sub("<uuid>", key))
    return replace(s, transfers=tuple(map(blank, s.transfers)), moves=tuple(map(blank, s.moves)))


# -- the fixture ------------------------------------------------------------------------------------------


def test_the_rich_shop_copied_from_its_template_is_the_one_built_afresh(
    request: pytest.FixtureRequest, store: Store, rich: Simulator, tmp_path: Path
) -> None:
    """What the copy gives (rows, ids to come, attachment bytes, clock) is what building it gives."""
    kind = request.node.callspec.params["store_url"]
    (tmp_path / "fresh").mkdir()
    fresh = open_store(fresh_store_url(kind, tmp_path / "fresh"))
    try:
        built = shop_sim(fresh, SOURCE)
        build_rich_shop(built)
        for sim in (rich, built):
            sim.catalog.add_product("NEW-1", "New", "1.00", category="Garden", quantity=2)
            sim.bank.transfer("Carol", "Shop", "1.00")
        assert same_but_random_keys(dump(store, SOURCE)) == same_but_random_keys(dump(fresh, SOURCE))
        assert rich.attachments.read(rich.attachments.list("APL-1")[0].id) == PAYLOAD
    finally:
        fresh.close()


# -- round trip ---------------------------------------------------------------------------------------


def test_a_dump_loaded_into_an_empty_tenant_checks_out_and_equals_the_original_up_to_ids(
    store: Store, rich: Simulator
) -> None:
    original = dump(store, SOURCE)
    assert original.archived_transfer_ids and original.archived_move_ids
    purged = {m.product_id for m in original.moves} - {p.id for p in original.products}
    assert len(purged) == 2 and min(purged) < original.products[0].id
    assert any(p.deleted_at for p in original.products) and any(a.deleted_at for a in original.accounts)
    assert any(c.parent_id and c.parent_id > c.id for c in original.categories)
    assert len(original.plans) == len(original.products) and original.game.day == 4
    load(store, TARGET, original)
    loaded = dump(store, TARGET)
    report = shop_sim(store, TARGET).check()
    assert report.ok, report.problems
    assert by_rank(loaded) == by_rank(original)
    assert loaded.counts() == original.counts()
    assert dump(store, SOURCE) == original  # the source is only read


def test_a_load_renumbers_each_kind_past_every_id_the_store_gave_out_keeping_the_gaps(
    store: Store, rich: Simulator
) -> None:
    bystander = shop_sim(store, BYSTANDER)
    build_small_shop(bystander)
    original = dump(store, SOURCE)
    before = highest([original, dump(store, BYSTANDER)])  # the purged product counts: its moves name it
    load(store, TARGET, original)
    loaded = ids_by_kind(dump(store, TARGET))
    for kind, ids in ids_by_kind(original).items():
        assert min(loaded[kind]) > before[kind], kind
        assert len({new - old for new, old in zip(loaded[kind], ids)}) == 1, f"{kind}: not one consistent shift"


def test_ids_loaded_into_the_archive_or_named_by_a_purged_products_moves_are_never_handed_out_again(
    store: Store,
) -> None:
    sim = shop_sim(store, SOURCE)
    sim.bank.open_account("Shop", kind="shop", opening_balance="50.00")
    sim.bank.open_account("Carol", opening_balance="50.00")
    kept = sim.catalog.add_product("KEEP-1", "Kept", "1.00", quantity=5)
    sim.inventory.move_stock(kept.id, 1, "Warehouse", sim.inventory.add_location("Shelf").id)
    sim.bank.transfer("Carol", "Shop", "2.00")
    gone = sim.catalog.add_product("GONE-1", "Gone", "1.00", quantity=2)
    sim.catalog.delete_product(gone.id)
    sim.catalog.purge_product(gone.id)
    sim.lifecycle.archive(sim.ctx.now()[:19])  # every transfer and move is archived
    original = dump(store, SOURCE)
    assert not [t for t in original.transfers if t.id not in original.archived_transfer_ids]
    assert not [m for m in original.moves if m.id not in original.archived_move_ids]
    load(store, TARGET, original)
    loaded = highest([dump(store, TARGET)])
    for tenant in (SOURCE, TARGET):
        other = shop_sim(store, tenant)
        product = other.catalog.add_product(f"NEW-{tenant}", "New", "1.00", quantity=1)
        move = other.inventory.move_stock(product.id, 1, "Warehouse", "Shelf")
        transfer = other.bank.transfer("Carol", "Shop", "1.00")
        assert product.id > loaded["product"] and move.id > loaded["move"] and transfer.id > loaded["transfer"], tenant
        assert other.check().ok, other.check().problems


# -- replacing what was there -------------------------------------------------------------------------


def test_loading_over_a_tenant_with_books_wipes_them_and_leaves_exactly_the_snapshot(store: Store, rich: Simulator) -> None:
    build_small_shop(shop_sim(store, TARGET))
    original = dump(store, SOURCE)
    load(store, TARGET, original)
    loaded = dump(store, TARGET)
    assert by_rank(replace(loaded, users=())) == by_rank(replace(original, users=()))
    assert loaded.counts() == original.counts()
    target = shop_sim(store, TARGET)
    assert target.catalog.count_products(EVERYTHING) == len(original.products)
    assert target.check().ok, target.check().problems


def test_loading_a_small_snapshot_over_the_rich_shop_leaves_nothing_of_it(store: Store, rich: Simulator) -> None:
    small = shop_sim(store, TARGET)
    build_small_shop(small)
    snapshot = dump(store, TARGET)
    load(store, SOURCE, snapshot)
    loaded = dump(store, SOURCE)
    assert by_rank(replace(loaded, users=())) == by_rank(replace(snapshot, users=()))
    assert {lv.product_id for lv in loaded.levels} <= {p.id for p in loaded.products}
    assert rich.check().ok, rich.check().problems
    assert rich.attachments.list("APL-1")[0].name == "apple.txt"  # kept: its SKU is in the snapshot
    assert [a.name for a in rich.attachments.list("NUT-1")] == []


def test_users_are_merged_by_name_and_existing_ones_keep_their_ids(store: Store, rich: Simulator) -> None:
    target = Simulator(store, actor="someone else", tenant=TARGET, clock=FixedClock())
    build_small_shop(target)
    users_before = {u.name: u for u in dump(store, TARGET).users}
    load(store, TARGET, dump(store, SOURCE))
    users_after = {u.name: u for u in dump(store, TARGET).users}
    assert set(users_after) == set(users_before) | {u.name for u in dump(store, SOURCE).users}
    assert all(users_after[name] == user for name, user in users_before.items())


def test_other_tenants_are_untouched(store: Store, rich: Simulator) -> None:
    build_small_shop(shop_sim(store, BYSTANDER))
    build_small_shop(shop_sim(store, TARGET))
    bystander = dump(store, BYSTANDER)
    bystander_audit = audit_entries(store, BYSTANDER)
    source = dump(store, SOURCE)
    load(store, TARGET, source)
    assert dump(store, BYSTANDER) == bystander
    assert audit_entries(store, BYSTANDER) == bystander_audit
    assert dump(store, SOURCE) == source
    assert shop_sim(store, BYSTANDER).attachments.list("NUT-1")[0].name == "nut.txt"


def test_the_audit_log_of_the_target_is_untouched(store: Store, rich: Simulator) -> None:
    build_small_shop(shop_sim(store, TARGET))
    entries = audit_entries(store, TARGET)
    assert entries
    load(store, TARGET, dump(store, SOURCE))
    assert audit_entries(store, TARGET) == entries
    assert shop_sim(store, TARGET).audit.verify().ok


def test_the_game_state_is_loaded_with_the_stored_version_plus_one_and_resumes_alike(
    store: Store, rich: Simulator
) -> None:
    target = shop_sim(store, TARGET, clock=rich.ctx.clock)
    build_small_shop(target)
    stored = target.simulation.state()
    assert stored.version > 0
    original = dump(store, SOURCE)
    load(store, TARGET, original)
    assert target.simulation.state() == replace(original.game, version=stored.version + 1)
    assert target.simulation.advance(3) == rich.simulation.advance(3)


# -- transactions ---------------------------------------------------------------------------------------


def _load_then_raise(store: Store, snapshot: TenantSnapshot) -> None:
    with pytest.raises(RuntimeError):
        with store.unit_of_work(TARGET, write=True) as uow:
            uow.snapshot.replace(snapshot)
            raise RuntimeError("boom")


def _load_without_commit(store: Store, snapshot: TenantSnapshot) -> None:
    with store.unit_of_work(TARGET, write=True) as uow:
        uow.snapshot.replace(snapshot)
        assert uow.snapshot.dump().counts() == snapshot.counts()  # visible inside the transaction


@pytest.mark.parametrize("leave", [_load_then_raise, _load_without_commit], ids=["raise", "no-commit"])
def test_a_load_that_is_not_committed_leaves_the_target_exactly_as_it_was(
    store: Store, rich: Simulator, leave: Callable[[Store, TenantSnapshot], None]
) -> None:
    target = shop_sim(store, TARGET)
    build_small_shop(target)
    before = dump(store, TARGET)
    leave(store, dump(store, SOURCE))
    assert dump(store, TARGET) == before
    assert target.check().ok, target.check().problems
    assert [a.name for a in target.attachments.list("NUT-1")] == ["nut.txt"]
    assert target.attachments.read(target.attachments.list("APL-1")[0].id) == b"elsewhere"
    target.bank.transfer("Zed", "Shop", "1.00")  # the tenant still works, its ids still fresh
    assert target.check().ok, target.check().problems


# -- what a loaded shop keeps ---------------------------------------------------------------------------------


def test_archived_rows_stay_archived(store: Store, rich: Simulator) -> None:
    load(store, TARGET, dump(store, SOURCE))
    target = shop_sim(store, TARGET)
    assert statement_sizes(target) == statement_sizes(rich)
    assert history_sizes(target) == history_sizes(rich)
    sizes, moves = statement_sizes(target), history_sizes(target)
    assert any(sizes[(name, True)] > sizes[(name, False)] for name, _archive in sizes)
    assert any(moves[(sku, True)] > moves[(sku, False)] for sku, _archive in moves)


def test_idempotency_keys_still_find_their_rows_with_the_new_ids(store: Store, rich: Simulator) -> None:
    original = dump(store, SOURCE)
    load(store, TARGET, original)
    loaded = dump(store, TARGET)
    target = shop_sim(store, TARGET)
    keyed = {t.idempotency_key: t for t in loaded.transfers}
    archived_payment = target.bank.transfer("Carol", "Shop", "12.00", memo="order 1", idempotency_key="pay-1")
    assert archived_payment == keyed["pay-1"] and archived_payment.id in loaded.archived_transfer_ids
    pending = target.bank.transfer("Dan", "Shop", "7.00", pending=True, idempotency_key="hold-open")
    assert pending == keyed["hold-open"]
    moved = target.inventory.move_stock("APL-1", 5, "Warehouse", "Shelf", idempotency_key="mv-1")
    assert moved == next(m for m in loaded.moves if m.idempotency_key == "mv-1")
    sale = target.inventory.sell("APL-1", 2, "Carol", idempotency_key="sale-1")
    assert sale.move == next(m for m in loaded.moves if m.idempotency_key == "sale-1")
    assert dump(store, TARGET) == loaded  # every replay wrote nothing
    with pytest.raises(DomainError) as caught:
        target.bank.transfer("Carol", "Shop", "99.00", idempotency_key="pay-1")
    assert caught.value.code == "idempotency_conflict"


def test_an_attachment_stays_with_the_loaded_product_of_its_sku_and_the_others_are_removed(
    store: Store, rich: Simulator
) -> None:
    target = shop_sim(store, TARGET)
    build_small_shop(target)
    kept = target.attachments.list("APL-1")[0]
    dropped = target.attachments.list("NUT-1")[0]
    load(store, TARGET, dump(store, SOURCE))
    apple = target.catalog.get_product_by_sku("APL-1")
    assert target.attachments.list(apple.id) == [replace(kept, product_id=apple.id)]
    assert target.attachments.read(kept.id) == b"elsewhere"
    with pytest.raises(DomainError) as caught:
        target.attachments.get(dropped.id)
    assert caught.value.code == "not_found"
    source_apple = rich.catalog.get_product_by_sku("APL-1")
    assert [a.name for a in rich.attachments.list(source_apple.id)] == ["apple.txt"]  # the source keeps its own


# -- refusals ---------------------------------------------------------------------------------------------


def _last(rows: tuple, **changes: Any) -> tuple:
    return (*rows[:-1], replace(rows[-1], **changes))


BROKEN: dict[str, Callable[[TenantSnapshot], TenantSnapshot]] = {
    "category parent": lambda s: replace(s, categories=_last(s.categories, parent_id=GONE)),
    "product category": lambda s: replace(s, products=_last(s.products, category_id=GONE)),
    "plan product": lambda s: replace(s, plans=(*s.plans, ProductPlan(GONE, 1, 1))),
    "transfer debit account": lambda s: replace(s, transfers=_last(s.transfers, debit_account_id=GONE)),
    "transfer credit account": lambda s: replace(s, transfers=_last(s.transfers, credit_account_id=GONE)),
    "transfer resolves": lambda s: replace(s, transfers=_last(s.transfers, pending_id=GONE)),
    "transfer reverses": lambda s: replace(s, transfers=_last(s.transfers, reverses_id=GONE)),
    "archived transfer": lambda s: replace(s, archived_transfer_ids=s.archived_transfer_ids | {GONE}),
    "level product": lambda s: replace(s, levels=(*s.levels, s.levels[0]._replace(product_id=GONE))),
    "level location": lambda s: replace(s, levels=(*s.levels, s.levels[0]._replace(location_id=GONE))),
    "move source": lambda s: replace(s, moves=_last(s.moves, from_location_id=GONE)),
    "move target": lambda s: replace(s, moves=_last(s.moves, to_location_id=GONE)),
    "move resolves": lambda s: replace(s, moves=_last(s.moves, pending_id=GONE)),
    "move payment": lambda s: replace(s, moves=_last(s.moves, transfer_id=GONE)),
    "move reverses": lambda s: replace(s, moves=_last(s.moves, reverses_id=GONE)),
    "archived move": lambda s: replace(s, archived_move_ids=s.archived_move_ids | {GONE}),
    "repeated product id": lambda s: replace(s, products=(*s.products, replace(s.products[0], sku="COPY-1"))),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_reference_to_a_row_not_in_the_snapshot_is_corrupt_and_writes_nothing(
    store: Store, rich: Simulator, broken: str
) -> None:
    target = shop_sim(store, TARGET)
    build_small_shop(target)
    before = dump(store, TARGET)
    bad = BROKEN[broken](dump(store, SOURCE))
    with store.unit_of_work(TARGET, write=True) as uow:
        with pytest.raises(DomainError) as caught:
            uow.snapshot.replace(bad)
        assert caught.value.code == "corrupt", caught.value.message
        assert str(GONE) in caught.value.message or "repeats" in caught.value.message
        assert uow.snapshot.dump() == before  # refused before anything was written
        uow.commit()
    assert dump(store, TARGET) == before
    assert target.check().ok, target.check().problems


def test_counts_in_the_store_equal_the_counts_of_a_dump(sim):
    """`counts()` (what a load reports it replaces) counts what `dump()` holds, archived rows included."""
    from tui_app.bootstrap import seed_demo

    seed_demo(sim, products=12, seed=3)
    sim.simulation.advance(2, seed=4)
    sim.lifecycle.archive(sim.ctx.now())
    with sim.store.unit_of_work(sim.tenant) as uow:
        dumped = uow.snapshot.dump()
        assert dumped.archived_transfer_ids, "the test needs archived rows"
        assert uow.snapshot.counts() == dumped.counts()
