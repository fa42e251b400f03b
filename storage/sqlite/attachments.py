"""sqlite3 repository for product attachments: metadata rows, bytes as content-addressed files
(`attachments=file`, the default) or as BLOBs in the row (`attachments=blob`).

The mode only decides where new bytes go; a row's `storage` column says where its bytes are, so a
store opened in either mode reads both. In file mode the file is written before the row is
inserted, inside the write transaction: a rollback leaves at most an unreferenced file (see
storage/blobs.py), never a row without its bytes.
"""

from __future__ import annotations

from domain.errors import Corrupt, NotFound
from domain.model.attachments import BLOB, FILE, Attachment
from storage.blobs import FileContentStore, sha256_hex
from storage.sqlite.repositories import _Repo

_COLS = "id, product_id, name, media_type, size_bytes, sha256, storage, actor, created_at"


class SqliteAttachments(_Repo):
    def __init__(self, conn, tenant: str, mode: str, files: FileContentStore):
        super().__init__(conn, tenant)
        self._mode = mode
        self._files = files

    def add(self, product_id: int, name: str, media_type: str, content: bytes, actor: str,
            created_at: str) -> Attachment:
        found = self._run("SELECT 1 FROM products WHERE tenant_id = ? AND id = ?", (self._tenant, product_id))
        if found.fetchone() is None:
            raise NotFound(f"product {product_id} does not exist", field="product")
        sha = sha256_hex(content)
        if self._mode == FILE:
            self._files.put(content, sha)
        cur = self._run(
            "INSERT INTO attachments (tenant_id, product_id, name, media_type, size_bytes, sha256, storage, content,"
            " actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self._tenant, product_id, name, media_type, len(content), sha, self._mode,
             content if self._mode == BLOB else None, actor, created_at),
        )
        return Attachment(cur.lastrowid, product_id, name, media_type, len(content), sha,  # type: ignore[arg-type]
                          self._mode, actor, created_at)

    def get(self, attachment_id: int) -> Attachment | None:
        row = self._run(
            f"SELECT {_COLS} FROM attachments WHERE tenant_id = ? AND id = ?", (self._tenant, attachment_id)
        ).fetchone()
        return Attachment(*row) if row else None

    def list(self, product_id: int) -> list[Attachment]:
        rows = self._run(
            f"SELECT {_COLS} FROM attachments WHERE tenant_id = ? AND product_id = ? ORDER BY id",
            (self._tenant, product_id),
        )
        return [Attachment(*r) for r in rows]

    def content(self, attachment_id: int) -> bytes:
        row = self._run(
            "SELECT storage, sha256, size_bytes, content FROM attachments WHERE tenant_id = ? AND id = ?",
            (self._tenant, attachment_id),
        ).fetchone()
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
        self._run("DELETE FROM attachments WHERE tenant_id = ? AND id = ?", (self._tenant, attachment_id))
        return gone

    def referenced_files(self) -> set[str]:
        """The sha256 of every file-mode row of every tenant (for garbage collection)."""
        return {r[0] for r in self._run("SELECT DISTINCT sha256 FROM attachments WHERE storage = ?", (FILE,))}
