"""Save slots: named files holding a whole game, as listed on the Saves screen."""

from __future__ import annotations

from typing import NamedTuple

SAVE_FORMATS = ("json", "yaml", "pickle")


class SlotInfo(NamedTuple):
    """One save file. `ok` is False when its checksum or signature does not match (then `problem` says why,
    as an error code); `day` is None when the file's header does not say."""

    name: str
    codec: str
    day: int | None
    size: int
    created_at: str
    format_version: int
    app_version: str
    ok: bool
    problem: str | None
    path: str


class SaveDiff(NamedTuple):
    """A slot against the live books, by what a person recognises (names and SKUs, not ids)."""

    counts: dict[str, tuple[int, int]]  # kind -> (live, slot)
    day: tuple[int, int]
    balances: list[tuple[str, int | None, int | None]]  # account name, live, slot; only those that differ
    stock: list[tuple[str, int | None, int | None]]  # SKU, live on hand, slot on hand; only those that differ

    @property
    def same(self) -> bool:
        return (all(a == b for a, b in self.counts.values()) and self.day[0] == self.day[1]
                and not self.balances and not self.stock)


class LoadReport(NamedTuple):
    """What a load replaced: the counts before and after, and the file it came from."""

    slot: SlotInfo
    before: dict[str, int]
    after: dict[str, int]
    upgraded_from: int | None  # the file's format version when it was older than the current one
