"""PostgreSQL's second wall: row-level security. Even a query that forgets `WHERE tenant_id = ...`
sees and changes only the tenant its transaction names, and with no tenant set it sees nothing (fails
closed). The store acts as the unprivileged role migration 0006 made, even when it logs in as a
superuser (who would bypass the policies)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from storage import open_store
from storage.sqlalchemy.tables import TENANT_TABLES
from tests.conftest import new_pg_database


@pytest.fixture
def pg(tmp_path: Path):
    """A store on a fresh database holding one product and one account in each of tenants a and b,
    written by the superuser (who bypasses the policies) so these tests need nothing else."""
    import psycopg

    url = new_pg_database(tmp_path)
    with psycopg.connect(url.split("?")[0].replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        for tenant in ("a", "b"):
            conn.execute("INSERT INTO products (tenant_id, sku, name, price_minor) VALUES (%s, %s, %s, 100)",
                         (tenant, f"SKU-{tenant}", f"Product of {tenant}"))
            conn.execute("INSERT INTO accounts (tenant_id, name, kind, currency) VALUES (%s, 'Till', 'shop', 'EUR')",
                         (tenant,))
    store = open_store(url)
    yield store
    store.close()


def _raw(store, tenant: str, sql: str, params: dict | None = None, write: bool = False):
    with store.unit_of_work(tenant, write=write) as uow:
        result = uow.session.execute(text(sql), params or {})
        rows = result.all() if result.returns_rows else result.rowcount
        if write:
            uow.commit()
        return rows


def test_the_store_acts_as_the_unprivileged_role(pg) -> None:
    assert _raw(pg, "a", "SELECT current_user, (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user)") \
        == [("stockbank_app", False)]


def test_a_query_without_a_tenant_filter_sees_only_its_tenants_rows(pg) -> None:
    assert _raw(pg, "a", "SELECT sku FROM products") == [("SKU-a",)]
    assert _raw(pg, "b", "SELECT sku FROM products") == [("SKU-b",)]


def test_with_no_tenant_named_nothing_is_visible_in_any_table(pg) -> None:
    with pg.engine.connect() as conn:  # a connection of the store that never named a tenant
        for table in TENANT_TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_an_update_or_delete_without_a_tenant_filter_touches_only_its_tenant(pg) -> None:
    assert _raw(pg, "a", "UPDATE products SET price_minor = 999", write=True) == 1
    assert _raw(pg, "a", "DELETE FROM accounts", write=True) == 1
    assert _raw(pg, "b", "SELECT price_minor FROM products") == [(100,)]
    assert _raw(pg, "b", "SELECT count(*) FROM accounts") == [(1,)]


def test_writing_a_row_for_another_tenant_is_refused(pg) -> None:
    with pytest.raises(ProgrammingError, match="row-level security"):
        _raw(pg, "a", "INSERT INTO products (tenant_id, sku, name, price_minor) VALUES ('b', 'X', 'X', 1)", write=True)
    with pytest.raises(ProgrammingError, match="row-level security"):
        _raw(pg, "a", "UPDATE products SET tenant_id = 'b'", write=True)
    assert _raw(pg, "b", "SELECT sku FROM products") == [("SKU-b",)]


def test_maintenance_across_tenants_must_say_so(pg) -> None:
    assert _raw(pg, "*", "SELECT count(*) FROM products") == [(2,)]
