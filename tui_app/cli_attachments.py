"""`stockbank attach`, `attachments` and `attachment get/remove/gc`: files kept with a product."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from typing import Any

from domain.model import parse_ref
from tui_app.cli_support import emit, open_cli_backend, text_table, whole_number

_SKU = "the product's SKU, or its id when all digits"


def add_attachment_commands(sub: argparse._SubParsersAction) -> None:
    attach = sub.add_parser("attach", help="attach a file (an image, a datasheet) to a product")
    attach.add_argument("sku", metavar="SKU", help=_SKU)
    attach.add_argument("file", metavar="FILE")
    attach.add_argument("--name", help="name to keep it under (default: the file's name)")
    attach.add_argument("--type", dest="media_type", metavar="MEDIA",
                        help="media type, e.g. image/png (default: guessed from the name)")
    listing = sub.add_parser("attachments", help="a product's attachments")
    listing.add_argument("sku", metavar="SKU", help=_SKU)
    one = sub.add_parser("attachment", help="one attachment: get (save its bytes), remove; gc of unused files")
    act = one.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = act.add_parser("get", help="save an attachment's bytes to a file (verified against its sha256)")
    get.add_argument("id", metavar="ID")
    get.add_argument("--out", required=True, metavar="FILE")
    remove = act.add_parser("remove", help="delete an attachment")
    remove.add_argument("id", metavar="ID")
    gc = act.add_parser("gc", help="delete attachment files no attachment uses any more (file mode)")
    gc.add_argument("--min-age", default="0", metavar="SECONDS", help="spare files younger than this (default 0)")


def attachment_data(a: Any) -> dict[str, Any]:
    return {"id": a.id, "product_id": a.product_id, "name": a.name, "media_type": a.media_type,
            "size_bytes": a.size_bytes, "sha256": a.sha256, "storage": a.storage, "actor": a.actor,
            "created_at": a.created_at}


def _size(n: int) -> str:
    return f"{n:,} B" if n < 1024 else f"{n / 1024:,.1f} KiB" if n < 2**20 else f"{n / 2**20:,.1f} MiB"


def read_upload(path: str, max_bytes: int) -> bytes:
    """The file's bytes; its size is checked first, so an oversized file is refused without reading it.

    Raises: NotFound, TooLarge, StorageError.
    """
    from domain.errors import NotFound, StorageError, TooLarge

    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise TooLarge(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} bytes "
                               f"({max_bytes // 2**20} MiB)", field="file", size_bytes=size, limit_bytes=max_bytes)
            return fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise NotFound(f"no file {path}", field="file") from None
    except IsADirectoryError:
        raise StorageError(f"{path} is a folder, not a file", field="file") from None
    except OSError as e:
        raise StorageError(f"cannot read {path}: {e.strerror or e}", field="file") from e


def write_atomic(path: str, data: bytes) -> None:
    """Temp file in the same folder, fsync, os.replace: a crash never leaves half a file under `path`.

    Raises: StorageError.
    """
    from domain.errors import StorageError

    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise StorageError(f"cannot write {path}: {e.strerror or e}", field="out") from e


def cmd_attach(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        service = backend.sim.attachments
        content = read_upload(args.file, service.max_bytes)
        name = args.name if args.name is not None else os.path.basename(args.file)
        a = service.attach(parse_ref(args.sku), name, content, args.media_type)
    finally:
        backend.close()
    emit(args, {"attachment": attachment_data(a)},
         f"attachment {a.id}: {a.name} ({a.media_type}, {_size(a.size_bytes)}) attached to product {a.product_id}, "
         f"sha256 {a.sha256}")


def cmd_attachments(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        found = backend.sim.attachments.list(parse_ref(args.sku))
    finally:
        backend.close()
    rows = [(str(a.id), a.name, a.media_type, f"{a.size_bytes:,}", a.storage, a.created_at[:19].replace("T", " "),
             a.sha256[:12]) for a in found]
    text = (text_table(("id", "name", "type", "bytes", "storage", "added (UTC)", "sha256"), rows, {0, 3})
            if rows else f"no attachments for {args.sku}")
    emit(args, {"attachments": [attachment_data(a) for a in found]}, text)


def cmd_attachment(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        _ACTIONS[args.action](args, backend)
    finally:
        backend.close()


def _get(args: argparse.Namespace, backend: Any) -> None:
    attachment_id = whole_number(args.id, "id")
    service = backend.sim.attachments
    a = service.get(attachment_id)
    write_atomic(args.out, service.read(attachment_id))
    emit(args, {"attachment": attachment_data(a), "file": args.out},
         f"saved attachment {a.id} ({a.name}, {_size(a.size_bytes)}, sha256 verified) to {args.out}")


def _remove(args: argparse.Namespace, backend: Any) -> None:
    a = backend.sim.attachments.remove(whole_number(args.id, "id"))
    emit(args, {"attachment": attachment_data(a)}, f"removed attachment {a.id} ({a.name}) of product {a.product_id}")


def _gc(args: argparse.Namespace, backend: Any) -> None:
    min_age = whole_number(args.min_age, "min_age") or 0
    collect = getattr(backend.sim.store, "collect_attachment_files", None)
    files, freed = collect(min_age) if collect is not None else (0, 0)  # stores without files have nothing to collect
    emit(args, {"files": files, "bytes": freed}, f"deleted {files} unused attachment files ({_size(freed)})")


_ACTIONS: dict[str, Callable[[argparse.Namespace, Any], None]] = {"get": _get, "remove": _remove, "gc": _gc}
ATTACHMENT_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "attach": cmd_attach, "attachments": cmd_attachments, "attachment": cmd_attachment,
}
