"""The one schema history for every SQL store (Alembic).

REVISIONS lets a store see whether a database is current, older or newer with a single
SELECT, so alembic and sqlalchemy are imported only when an upgrade must actually run.
A test keeps REVISIONS in step with the scripts in versions/.
"""

from __future__ import annotations

from pathlib import Path

REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011",
                              "0012", "0013", "0014")
HEAD = REVISIONS[-1]
SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(sqlalchemy_url: str):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["url"] = sqlalchemy_url
    return cfg


def upgrade(sqlalchemy_url: str, revision: str = "head") -> None:
    """Run the migrations up to `revision` in one transaction (SQLite: BEGIN IMMEDIATE)."""
    from alembic import command

    command.upgrade(alembic_config(sqlalchemy_url), revision)
