"""One schema for every SQL store: the Alembic history builds it, the sqlite3 and SQLAlchemy stores open
the same file format, and the ORM models describe exactly what the migrations built, on SQLite and on
PostgreSQL. On PostgreSQL text compares like SQLite (COLLATE "C") and row-level security walls every
tenant table."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from storage import migrations, open_store
from storage.sqlalchemy.tables import Base, TENANT_TABLES
from tests.conftest import new_pg_database


def _sqlite_schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


# PostgreSQL's stored sort keys (migration 0011): columns the models do not map, and the indexes that have
# them where SQLite has the expressions. Checked by their own test below.
PG_SORT_KEY_COLUMNS = {"name_key": "lower((name)::text)", "value_minor": "(price_minor * quantity)"}
PG_SORT_KEY_INDEXES = {"ix_products_tenant_lower_name": "name_key", "ix_products_active_category": "name_key",
                       "ix_products_listed": "name_key", "ix_products_by_value": "value_minor",
                       "ix_products_deleted": "name_key", "ix_products_low": "name_key"}


def _pg_sort_keys(diff: object) -> bool:
    if not isinstance(diff, tuple):
        return False
    if diff[0] == "remove_column":
        return diff[2] == "products" and diff[3].name in PG_SORT_KEY_COLUMNS
    return diff[0] in ("add_index", "remove_index") and diff[1].name in PG_SORT_KEY_INDEXES


def _model_differences(url: str) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # expression indexes: not reflected by SQLite, checked below by name
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    kept = []
    for diff in diffs:
        if isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version":
            continue
        if url.startswith("postgresql") and _pg_sort_keys(diff):
            continue
        # Alembic compares SQLite's reflected DEFAULT '' with the model's "" as different: the same default.
        if isinstance(diff, list) and diff[0][0] == "modify_default" and url.startswith("sqlite") \
                and str(diff[0][-1].arg) == "" and "''" in str(diff[0][-2].arg):
            continue
        kept.append(diff)
    return kept


def _shape(url: str) -> dict[str, object]:
    """Tables, columns (name, nullable, generic type), index names and columns, checks and foreign keys."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            insp = inspect(conn)
            shape: dict[str, object] = {}
            for table in sorted(set(insp.get_table_names()) - {"alembic_version"}):
                columns = [(c["name"], c["nullable"], type(c["type"].as_generic()).__name__)
                           for c in insp.get_columns(table)
                           if not (table == "products" and c["name"] in PG_SORT_KEY_COLUMNS)]
                checks = sorted(c["name"] for c in insp.get_check_constraints(table))
                fks = sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table))
                shape[table] = (sorted(columns), checks, fks)
            return shape
    finally:
        engine.dispose()


def _index_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
            else:
                rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                                         " AND indexname NOT LIKE '%_pkey'"))
            return {r[0] for r in rows}
    finally:
        engine.dispose()


def _index_predicates(url: str, schema: str | None = None) -> dict[str, str | None]:
    """Each index's WHERE (None for a whole-table index), as the database itself prints it: Alembic's
    comparison above does not look at predicates."""
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"} if schema else {})
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
                return {name: sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None for name, sql in rows}
            rows = conn.execute(text(
                "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisprimary"))
            return dict(rows.all())
    finally:
        engine.dispose()


def _models_in(url: str, schema: str | None = None) -> None:
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"} if schema else {})
    try:
        with engine.begin() as conn:
            if schema:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            Base.metadata.create_all(conn)
    finally:
        engine.dispose()


def test_every_partial_index_has_the_predicate_its_model_gives_on_sqlite(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'shop.db'}").close()
    _models_in(f"sqlite:///{tmp_path / 'models.db'}")
    migrated = _index_predicates(f"sqlite:///{tmp_path / 'shop.db'}")
    assert migrated["ux_stock_moves_tenant_key"] == "idempotency_key IS NOT NULL"  # 0012
    assert migrated == _index_predicates(f"sqlite:///{tmp_path / 'models.db'}")


def test_every_partial_index_has_the_predicate_its_model_gives_on_postgres(pg_url: str) -> None:
    _models_in(pg_url, schema="models")
    migrated = _index_predicates(pg_url)
    assert migrated["ix_stock_moves_transfer"] == "(transfer_id IS NOT NULL)"  # 0012
    unique_constraints = {"uq_users_tenant_name"}
    assert {k: v for k, v in migrated.items() if k not in unique_constraints} == {
        k: v for k, v in _index_predicates(pg_url, schema="models").items() if k not in unique_constraints}


@pytest.fixture
def pg_url(tmp_path: Path) -> str:
    return new_pg_database(tmp_path).split("?")[0]  # the engine URL, without the store's own options


def test_the_sqlite3_and_sqlalchemy_stores_build_the_same_file(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'raw.db'}").close()
    open_store(f"sqlalchemy+sqlite:///{tmp_path / 'orm.db'}").close()
    assert _sqlite_schema(tmp_path / "raw.db") == _sqlite_schema(tmp_path / "orm.db")


def test_the_orm_models_match_the_migrated_sqlite_schema(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'shop.db'}").close()
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    assert _model_differences(url) == []
    model_indexes = {i.name for t in Base.metadata.tables.values() for i in t.indexes}
    assert _index_names(url) == model_indexes  # expression indexes included, by name


def test_the_orm_models_match_the_migrated_postgres_schema(pg_url: str) -> None:
    assert _model_differences(pg_url) == []
    model_indexes = {i.name for t in Base.metadata.tables.values() for i in t.indexes}
    unique_constraints = {"uq_users_tenant_name", "alembic_version_pkc"}  # constraints, listed by pg_indexes too
    assert _index_names(pg_url) - unique_constraints == model_indexes


def test_sqlite_and_postgres_get_the_same_tables_columns_checks_and_keys(tmp_path: Path, pg_url: str) -> None:
    open_store(f"sqlite:///{tmp_path / 'shop.db'}").close()
    assert _shape(f"sqlite:///{tmp_path / 'shop.db'}") == _shape(pg_url)


def test_postgres_text_compares_like_sqlite_and_every_tenant_table_has_a_forced_policy(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            collations = conn.execute(text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND data_type = 'character varying'"
                " AND table_name <> 'alembic_version'")).all()
            walls = dict(conn.execute(text(
                "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class"
                " WHERE relname = ANY(:t) AND relkind = 'r'"), {"t": list(TENANT_TABLES)}).all())
            policies = {r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation'"))}
    finally:
        engine.dispose()
    assert collations and {c[2] for c in collations} == {"C"}, [c for c in collations if c[2] != "C"]
    assert walls == {t: True for t in TENANT_TABLES}
    assert policies == set(TENANT_TABLES)


def test_the_migration_history_is_one_chain_ending_at_head() -> None:
    assert migrations.HEAD == migrations.REVISIONS[-1] == "0014"


def test_postgres_sorts_products_on_stored_keys_that_follow_their_expressions(pg_url: str) -> None:
    """The name and value keys are generated from the row (never written by the store), name_key in the
    name's collation, and the four list indexes are on them: a keyset condition on a column is leakproof,
    so it seeks under row-level security (tests/integration/test_product_list_at_scale.py)."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            columns = {r[0]: r[1:] for r in conn.execute(text(
                "SELECT a.attname, a.attgenerated, pg_get_expr(d.adbin, d.adrelid), c.collname"
                " FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
                " LEFT JOIN pg_collation c ON c.oid = a.attcollation AND a.attcollation <> 0"
                " WHERE a.attrelid = 'products'::regclass AND a.attname = ANY(:names)"),
                {"names": list(PG_SORT_KEY_COLUMNS)})}
            indexes = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:names)"),
                                        {"names": list(PG_SORT_KEY_INDEXES)}).all())
    finally:
        engine.dispose()
    assert columns == {"name_key": ("s", PG_SORT_KEY_COLUMNS["name_key"], "C"),
                       "value_minor": ("s", PG_SORT_KEY_COLUMNS["value_minor"], None)}
    assert set(indexes) == set(PG_SORT_KEY_INDEXES)
    for name, key in PG_SORT_KEY_INDEXES.items():
        assert f"{key}, id" in indexes[name] and "lower(" not in indexes[name] and "*" not in indexes[name], indexes[name]
