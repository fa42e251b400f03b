"""Error codes are an API: unique, snake_case, stable."""

from __future__ import annotations

import re

import pytest

from domain import errors
from domain.errors import DomainError, all_codes

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

# Codes PRODUCT.md lists that this code base raises so far (the rest arrive with bank, inventory, saves...).
PRODUCT_CODES_SO_FAR = {
    "validation",
    "not_found",
    "already_exists",
    "idempotency_conflict",
    "version_conflict",
    "busy",
    "corrupt",
    "unsupported_version",
    "too_large",
}


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found: list[type[DomainError]] = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith(("domain", "storage", "tui_app")):
            found.append(sub)
            found.extend(_subclasses(sub))
    return found


SUBCLASSES = _subclasses(DomainError)


def test_there_are_domain_error_subclasses_to_check() -> None:
    assert len(SUBCLASSES) >= len(PRODUCT_CODES_SO_FAR)


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_every_error_has_its_own_snake_case_code(cls: type[DomainError]) -> None:
    assert SNAKE.match(cls.code), cls.code
    assert cls.code != DomainError.code, f"{cls.__name__} does not set its own code"


def test_no_two_errors_share_a_code() -> None:
    codes = [cls.code for cls in SUBCLASSES]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_all_codes_maps_every_code_to_its_class() -> None:
    table = all_codes()
    assert set(table) == {cls.code for cls in SUBCLASSES}
    for code, cls in table.items():
        assert cls.code == code
        assert issubclass(cls, DomainError)


def test_all_codes_includes_the_product_codes_that_exist_so_far() -> None:
    assert PRODUCT_CODES_SO_FAR <= set(all_codes())


@pytest.mark.parametrize(
    ("name", "code"),
    [("ValidationError", "validation"), ("NotFound", "not_found"), ("AlreadyExists", "already_exists"),
     ("VersionConflict", "version_conflict"), ("InUse", "in_use"), ("IdempotencyConflict", "idempotency_conflict"),
     ("Busy", "busy"), ("Corrupt", "corrupt"), ("UnsupportedVersion", "unsupported_version"),
     ("TooLarge", "too_large"), ("StorageError", "storage")],
)
def test_codes_never_change(name: str, code: str) -> None:
    assert getattr(errors, name).code == code


def test_an_error_carries_message_field_row_and_details() -> None:
    err = errors.VersionConflict("changed by someone else", field="price", row=3, current_version=4)
    assert str(err) == err.message == "changed by someone else"
    assert (err.field, err.row, err.details) == ("price", 3, {"current_version": 4})
    assert err.to_dict() == {
        "code": "version_conflict",
        "message": "changed by someone else",
        "field": "price",
        "row": 3,
        "details": {"current_version": 4},
    }


def test_to_dict_leaves_out_what_is_not_set() -> None:
    assert errors.NotFound("gone").to_dict() == {"code": "not_found", "message": "gone"}
