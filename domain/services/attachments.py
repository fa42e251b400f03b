"""Attachment use cases: files (an image, a datasheet) kept with a product.

The service validates and audits; where the bytes go (content-addressed files or BLOBs) is the
store's choice. Audit entries carry the metadata and the sha256, never the bytes.
"""

from __future__ import annotations

import re
from typing import Any

from domain.errors import NotFound, TooLarge, ValidationError
from domain.model import is_id
from domain.model.attachments import (
    DEFAULT_MEDIA_TYPE,
    MAX_ATTACHMENT_BYTES,
    MAX_MEDIA_TYPE,
    MAX_NAME,
    Attachment,
)
from domain.services.context import ServiceContext, product_by_ref

ProductRef = int | str
# RFC 6838 type/subtype names, no parameters: what a browser or an OS needs to open the file.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_SEPARATORS = ("/", "\\")
_mime_table: Any = None


def guess_media_type(name: str) -> str:
    """The media type for a file name, from Python's built-in table only (the system's mime.types
    files differ between machines, and the same upload must get the same type everywhere)."""
    global _mime_table
    if _mime_table is None:
        import mimetypes

        _mime_table = mimetypes.MimeTypes(filenames=())
    guessed, _encoding = _mime_table.guess_type(name, strict=False)
    return guessed or DEFAULT_MEDIA_TYPE


def check_name(name: Any) -> str:
    """A file name to show and to save as: 1-255 printable characters, no path in it.

    Raises: ValidationError.
    """
    if not isinstance(name, str):
        raise ValidationError("name: give a file name", field="name")
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValidationError(f"name: must be 1-{MAX_NAME} printable characters", field="name")
    if any(sep in name for sep in _SEPARATORS) or name in (".", ".."):
        raise ValidationError("name: a file name only, without a folder (no / or \\)", field="name")
    return name


def check_media_type(media_type: Any, name: str) -> str:
    """The given media type, lower-cased and checked; guessed from the name when None or blank.

    Raises: ValidationError.
    """
    if media_type is None or (isinstance(media_type, str) and not media_type.strip()):
        return guess_media_type(name)
    if not isinstance(media_type, str):
        raise ValidationError("media_type: give a type like image/png", field="media_type")
    cleaned = media_type.strip().lower()
    if len(cleaned) > MAX_MEDIA_TYPE or not _MEDIA_TYPE.fullmatch(cleaned):
        raise ValidationError(
            f"media_type: {media_type!r} is not a media type like image/png or application/pdf", field="media_type"
        )
    return cleaned


def check_content(content: Any, max_bytes: int) -> bytes:
    """The bytes to store; checked before anything is written.

    Raises: ValidationError (not bytes, empty), TooLarge.
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise ValidationError("content: give the file's bytes", field="content")
    data = bytes(content)
    if not data:
        raise ValidationError("content: the file is empty", field="content")
    if len(data) > max_bytes:
        raise TooLarge(
            f"content: {len(data):,} bytes is over the limit of {max_bytes:,} bytes ({max_bytes // 2**20} MiB)",
            field="content", size_bytes=len(data), limit_bytes=max_bytes,
        )
    return data


class AttachmentService:
    """Files attached to the products of one tenant, on behalf of one actor."""

    def __init__(self, ctx: ServiceContext, max_bytes: int = MAX_ATTACHMENT_BYTES):
        self._ctx = ctx
        self.max_bytes = max_bytes

    def attach(self, product: ProductRef, name: str, content: bytes, media_type: str | None = None) -> Attachment:
        """Attach a file to a product (by id or SKU); the media type is guessed from the name if not given.

        Raises: ValidationError (name, media type, empty content), TooLarge (over `max_bytes`),
        NotFound (product, also a deleted one), StorageError (disk full, permissions).
        """
        name = check_name(name)
        media_type = check_media_type(media_type, name)
        data = check_content(content, self.max_bytes)
        with self._ctx.writing() as uow:
            found = product_by_ref(uow, product)
            attachment = uow.attachments.add(found.id, name, media_type, data, self._ctx.actor, self._ctx.now())
            self._ctx.audit(uow, "attachment", attachment.id, "create", after=attachment)
        return attachment

    def list(self, product: ProductRef) -> list[Attachment]:
        """A product's attachments (metadata only), oldest first; a soft-deleted product's too (they
        are kept with it until it is purged).

        Raises: NotFound (product).
        """
        with self._ctx.reading() as uow:
            return uow.attachments.list(product_by_ref(uow, product, allow_deleted=True).id)

    def get(self, attachment_id: int) -> Attachment:
        """One attachment's metadata.

        Raises: NotFound.
        """
        with self._ctx.reading() as uow:
            found = uow.attachments.get(attachment_id) if is_id(attachment_id) else None
        if found is None:
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        return found

    def read(self, attachment_id: int) -> bytes:
        """An attachment's bytes, verified against the sha256 recorded when it was attached.

        Raises: NotFound, Corrupt (the bytes changed or went missing since).
        """
        if not is_id(attachment_id):
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        with self._ctx.reading() as uow:
            return uow.attachments.content(attachment_id)

    def remove(self, attachment_id: int) -> Attachment:
        """Delete an attachment and return what it was. In file mode the bytes stay on disk until a
        garbage collection finds no row using them (another attachment may share them).

        Raises: NotFound.
        """
        if not is_id(attachment_id):
            raise NotFound(f"attachment {attachment_id} does not exist", field="attachment")
        with self._ctx.writing() as uow:
            gone = uow.attachments.remove(attachment_id)
            self._ctx.audit(uow, "attachment", attachment_id, "delete", before=gone)
        return gone
