"""SQLAlchemy repository for product attachments: metadata rows, bytes as content-addressed files
(`attachments=file`, the default on SQLite) or as BLOBs in the row (`attachments=blob`, the default
on PostgreSQL, where no folder sits next to the database).

The mode only decides where new bytes go; a row's `storage` column says where its bytes are, so a
store opened in either mode reads both. In file mode the file is written before the row is
inserted, inside the write transaction: a rollback leaves at most an unreferenced file (see
storage/blobs.py), never a row without its bytes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from domain.errors import Corrupt, NotFound
from domain.model.attachments import BLOB, FILE, Attachment
from storage.blobs import FileContentStore, sha256_hex
from storage.sqlalchemy.base import SqlAlchemyRepo
from storage.sqlalchemy.tables import AttachmentRow, ProductRow

# The metadata columns in Attachment's field order (never the bytes: a listing must not load them).
_COLS = (AttachmentRow.id, AttachmentRow.product_id, AttachmentRow.name, AttachmentRow.media_type,
         AttachmentRow.size_bytes, AttachmentRow.sha256, AttachmentRow.storage, AttachmentRow.actor,
         AttachmentRow.created_at)


class SqlAlchemyAttachments(SqlAlchemyRepo):
    def __init__(self, session: Session, tenant: str, dialect: str, storage_kind: str, files: FileContentStore):
        super().__init__(session, tenant, dialect)
        self._mode = storage_kind
        self._files = files

    def _mine(self) -> Any:
        return AttachmentRow.tenant_id == self._tenant

    def add(self, product_id: int, name: str, media_type: str, content: bytes, actor: str,
            created_at: str) -> Attachment:
        found = self._execute(select(ProductRow.id).where(ProductRow.tenant_id == self._tenant,
                                                          ProductRow.id == product_id)).first()
        if found is None:
            raise NotFound(f"product {product_id} does not exist", field="product")
        sha = sha256_hex(content)
        if self._mode == FILE:
            self._files.put(content, sha)
        new_id = self._execute(insert(AttachmentRow).values(
            tenant_id=self._tenant, product_id=product_id, name=name, media_type=media_type, size_bytes=len(content),
            sha256=sha, storage=self._mode, content=content if self._mode == BLOB else None, actor=actor,
            created_at=created_at,
        ).returning(AttachmentRow.id)).scalar_one()
        return Attachment(new_id, product_id, name, media_type, len(content), sha, self._mode, actor, created_at)

    def get(self, attachment_id: int) -> Attachment | None:
        row = self._execute(select(*_COLS).where(self._mine(), AttachmentRow.id == attachment_id)).first()
        return Attachment(*row) if row else None

    def list(self, product_id: int) -> list[Attachment]:
        rows = self._execute(select(*_COLS).where(self._mine(), AttachmentRow.product_id == product_id)
                             .order_by(AttachmentRow.id))
        return [Attachment(*r) for r in rows]

    def content(self, attachment_id: int) -> bytes:
        row = self._execute(
            select(AttachmentRow.storage, AttachmentRow.sha256, AttachmentRow.size_bytes, AttachmentRow.content)
            .where(self._mine(), AttachmentRow.id == attachment_id)
        ).first()
        if row is None:
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        storage, sha, size, blob = row
        if storage == FILE:
            return self._files.get(sha, size)
        data = bytes(blob) if blob is not None else b""
        if len(data) != size or sha256_hex(data) != sha:
            raise Corrupt(f"attachment {attachment_id} was changed in the database: its bytes no longer match "
                          f"sha256 {sha[:12]}...")
        return data

    def remove(self, attachment_id: int) -> Attachment:
        gone = self.get(attachment_id)
        if gone is None:
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        self._execute(delete(AttachmentRow).where(self._mine(), AttachmentRow.id == attachment_id))
        return gone

    def referenced_files(self) -> set[str]:
        """The sha256 of every file-mode row of every tenant (for garbage collection: files are shared
        across tenants, so this one statement is deliberately not scoped by tenant)."""
        files = select(AttachmentRow.sha256).where(AttachmentRow.storage == FILE).distinct()
        return set(self._execute(files).scalars())
