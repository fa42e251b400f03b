"""Save and load the whole game of a tenant: slots on disk, all-or-nothing loads, a diff against live.

A save reads the books in one transaction and writes the file atomically. A load decodes and
validates the whole file first, then replaces the books in one write transaction and checks every
invariant before committing: a bad file, or one whose books do not add up, changes nothing.
Both write an audit entry (entity `save`), so the log says who saved or loaded what, and when.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import Corrupt, ValidationError
from domain.model.saves import SAVE_FORMATS, LoadReport, SaveDiff, SlotInfo
from domain.model.world import GameWorld
from domain.services.context import ServiceContext

if TYPE_CHECKING:
    from domain.ports import SaveSlots


class SavesService:
    def __init__(self, ctx: ServiceContext, slots: SaveSlots):
        self._ctx = ctx
        self._slots = slots

    def world(self) -> GameWorld:
        """The live game as an object graph, read in one transaction."""
        with self._ctx.reading() as uow:
            return GameWorld.from_snapshot(uow.snapshot.dump())

    @property
    def location(self) -> str:
        """Where the slot files are (a folder), to tell the user."""
        return self._slots.location

    def slots(self) -> list[SlotInfo]:
        """Every save of the tenant, newest first, each marked ok or not (checksum, signature)."""
        return self._slots.list()

    def slot(self, name: str) -> SlotInfo:
        """One slot's header and checksum status. Raises: NotFound, ValidationError."""
        return self._slots.info(name)

    def save(self, name: str, fmt: str = "json") -> SlotInfo:
        """Write the whole game to the slot `name` (replacing it) in JSON, YAML or signed pickle.

        Raises: ValidationError (name, format), StorageError (disk full, permissions), Busy.
        """
        if fmt not in SAVE_FORMATS:
            raise ValidationError(f"format: one of {', '.join(SAVE_FORMATS)}", field="format")
        world = self.world()
        info = self._slots.write(name, fmt, world, tenant=self._ctx.tenant, saved_by=self._ctx.actor,
                                 created_at=self._ctx.now())
        with self._ctx.writing() as uow:
            self._ctx.audit(uow, "save", info.name, "save", after=_summary(info, world.counts()))
        return info

    def load(self, name: str) -> LoadReport:
        """Replace the live game with a slot's (or a save file's, given its path), all or nothing.

        Raises: NotFound, Corrupt (unreadable, or its books do not add up), Tampered, UnsupportedVersion,
        TooLarge, Busy.
        """
        from domain.simulator import check_books

        world, info, upgraded_from = self._slots.read(name)
        snapshot = world.to_snapshot()
        with self._ctx.writing() as uow:
            before = uow.snapshot.counts()
            uow.snapshot.replace(snapshot)
            report = check_books(self._ctx)  # inside the transaction: it sees the loaded books
            if not report.ok:
                raise Corrupt(f"the save's books do not add up, nothing was loaded: {'; '.join(report.problems[:3])}")
            after = snapshot.counts()
            self._ctx.audit(uow, "save", info.name, "load", before=before,
                            after=_summary(info, after) | {"upgraded_from": upgraded_from})
        return LoadReport(info, before, after, upgraded_from)

    def delete(self, name: str) -> SlotInfo:
        """Remove a slot's file. Raises: NotFound, ValidationError."""
        info = self._slots.delete(name)
        with self._ctx.writing() as uow:
            self._ctx.audit(uow, "save", info.name, "delete", before={"format": info.codec, "day": info.day})
        return info

    def diff(self, name: str) -> SaveDiff:
        """What loading the slot would change: counts, the day, balances and stock that differ.

        Raises: NotFound, Corrupt, Tampered, UnsupportedVersion, TooLarge.
        """
        slot, _info, _upgraded_from = self._slots.read(name)
        return compare(self.world(), slot)


def compare(live: GameWorld, slot: GameWorld) -> SaveDiff:
    """The two states by names and SKUs (ids differ after a load: they are renumbered)."""
    live_counts, slot_counts = live.counts(), slot.counts()
    counts = {k: (live_counts[k], slot_counts[k]) for k in live_counts}
    return SaveDiff(counts, (live.day, slot.day), _changed(live.balances(), slot.balances()),
                    _changed(live.stock(), slot.stock()))


def _changed(live: dict[str, int], slot: dict[str, int]) -> list[tuple[str, int | None, int | None]]:
    return [(k, live.get(k), slot.get(k)) for k in sorted(live.keys() | slot.keys(), key=str.casefold)
            if live.get(k) != slot.get(k)]


def _summary(info: SlotInfo, counts: dict[str, int]) -> dict:
    return {"format": info.codec, "day": info.day, "size": info.size, **counts}
