"""In-memory attachments: the bytes kept in a dict next to the row, recorded as storage 'blob'.
Every write goes through the undo log, like the rest of the memory adapter."""

from __future__ import annotations

import hashlib

from domain.errors import Corrupt, NotFound
from domain.model.attachments import BLOB, Attachment
from storage.memory.base import Repo


class MemoryAttachments(Repo):
    def add(self, product_id: int, name: str, media_type: str, content: bytes, actor: str,
            created_at: str) -> Attachment:
        if product_id not in self._data.products:
            raise NotFound(f"product {product_id} does not exist", field="product")
        data = bytes(content)
        new = Attachment(self._store._next_id("attachment"), product_id, name, media_type, len(data),
                         hashlib.sha256(data).hexdigest(), BLOB, actor, created_at)
        self._undo.set_item(self._data.attachments, new.id, new)
        self._undo.set_item(self._data.attachment_content, new.id, data)
        return new

    def get(self, attachment_id: int) -> Attachment | None:
        return self._data.attachments.get(attachment_id)

    def list(self, product_id: int) -> list[Attachment]:
        return sorted((a for a in self._data.attachments.values() if a.product_id == product_id), key=lambda a: a.id)

    def content(self, attachment_id: int) -> bytes:
        found = self._data.attachments.get(attachment_id)
        if found is None:
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        data = self._data.attachment_content.get(attachment_id, b"")
        if len(data) != found.size_bytes or hashlib.sha256(data).hexdigest() != found.sha256:
            raise Corrupt(f"attachment {attachment_id} was changed: its bytes no longer match "
                          f"sha256 {found.sha256[:12]}...")
        return data

    def remove(self, attachment_id: int) -> Attachment:
        gone = self._data.attachments.get(attachment_id)
        if gone is None:
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        self._undo.del_item(self._data.attachments, attachment_id)
        self._undo.del_item(self._data.attachment_content, attachment_id)
        return gone
