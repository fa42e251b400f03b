"""Product attachments (an image, a datasheet): metadata only. The bytes live in the store,
addressed by their sha256, and are read through the repository, which verifies them."""

from __future__ import annotations

from dataclasses import dataclass

FILE, BLOB = "file", "blob"  # where the bytes are kept: a content-addressed file, or a BLOB in the row
STORAGE_KINDS = (FILE, BLOB)
MAX_ATTACHMENT_BYTES = 64 * 2**20  # 64 MiB: a datasheet or a photo, not a video; one read holds it in memory
MAX_NAME = 255
MAX_MEDIA_TYPE = 100
DEFAULT_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    product_id: int
    name: str
    media_type: str
    size_bytes: int
    sha256: str
    storage: str  # FILE or BLOB
    actor: str
    created_at: str
