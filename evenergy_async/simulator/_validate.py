"""Request-body validation with DRF-style messages collected per field."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Final

from yarl import URL

from ._problems import validation_failed
from ._wire import parse_ts

__all__: list[str] = []  # private module


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", re.ASCII)
UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII
)


def id_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(prefix + r"[0-9A-Z]{26}", re.ASCII)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return type(value).__name__


class Body:
    """Typed accessors over a JSON object; errors accumulate in ``errors``."""

    def __init__(self, data: Mapping[str, Any], slug: str) -> None:
        self.data = data
        self.slug = slug
        self.errors: dict[str, list[str]] = {}

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def check(self) -> None:
        if self.errors:
            raise validation_failed(self.slug, self.errors)

    def _get(self, name: str, required: bool, nullable: bool) -> Any:
        if name not in self.data:
            if required:
                self.error(name, "This field is required.")
            return MISSING
        value = self.data[name]
        if value is None and not nullable:
            self.error(name, "This field may not be null.")
            return MISSING
        return value

    def int_(
        self,
        name: str,
        *,
        required: bool = False,
        nullable: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        value = self._get(name, required, nullable)
        if value is MISSING or value is None:
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, "A valid integer is required.")
            return MISSING
        if minimum is not None and value < minimum:
            self.error(name, f"Ensure this value is greater than or equal to {minimum}.")
            return MISSING
        if maximum is not None and value > maximum:
            self.error(name, f"Ensure this value is less than or equal to {maximum}.")
            return MISSING
        return value

    def bool_(self, name: str, *, required: bool = False, nullable: bool = False) -> Any:
        value = self._get(name, required, nullable)
        if value is MISSING or value is None:
            return value
        if not isinstance(value, bool):
            self.error(name, "Must be a valid boolean.")
            return MISSING
        return value

    def str_(
        self,
        name: str,
        *,
        required: bool = False,
        nullable: bool = False,
        max_length: int | None = None,
        email: bool = False,
        pattern: re.Pattern[str] | None = None,
        uuid: bool = False,
    ) -> Any:
        value = self._get(name, required, nullable)
        if value is MISSING or value is None:
            return value
        if not isinstance(value, str):
            self.error(name, "Not a valid string.")
            return MISSING
        if not value.strip():
            self.error(name, "This field may not be blank.")
            return MISSING
        if max_length is not None and len(value) > max_length:
            self.error(name, f"Ensure this field has no more than {max_length} characters.")
            return MISSING
        if email and not EMAIL_RE.fullmatch(value):
            self.error(name, "Enter a valid email address.")
            return MISSING
        if uuid and not UUID_RE.fullmatch(value):
            self.error(name, "Must be a valid UUID.")
            return MISSING
        if pattern is not None and not pattern.fullmatch(value):
            self.error(name, f"Does not match the pattern {pattern.pattern}.")
            return MISSING
        return value

    def enum(
        self,
        name: str,
        choices: Collection[str | None],
        *,
        required: bool = False,
        nullable: bool = False,
    ) -> Any:
        value = self._get(name, required, nullable)
        if value is MISSING or value is None:
            return value
        if not isinstance(value, str) or value not in choices:
            self.error(name, f'"{value}" is not a valid choice.')
            return MISSING
        return value

    def enum_list(self, name: str, choices: Collection[str], *, required: bool = False) -> Any:
        value = self._get(name, required, False)
        if value is MISSING:
            return value
        if not isinstance(value, list):
            self.error(name, f'Expected a list of items but got type "{_type_name(value)}".')
            return MISSING
        bad = [v for v in value if not isinstance(v, str) or v not in choices]
        if bad:
            self.error(name, f'"{bad[0]}" is not a valid choice.')
            return MISSING
        return list(value)

    def datetime_(self, name: str, *, required: bool = False, nullable: bool = False) -> Any:
        value = self._get(name, required, nullable)
        if value is MISSING or value is None:
            return value
        if isinstance(value, str):
            try:
                return parse_ts(value)
            except ValueError:
                pass
        self.error(
            name,
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        )
        return MISSING

    def hyperlink(
        self,
        name: str,
        collection: str,
        exists: Collection[str],
        *,
        required: bool = False,
    ) -> Any:
        """A related object given by its absolute URL (any host; path ``.../collection/ID``)."""
        value = self._get(name, required, False)
        if value is MISSING:
            return value
        if not isinstance(value, str):
            self.error(name, f"Incorrect type. Expected URL string, received {_type_name(value)}.")
            return MISSING
        obj_id = hyperlink_id(value, collection)
        if obj_id is None:
            self.error(name, "Invalid hyperlink - No URL match.")
            return MISSING
        if obj_id not in exists:
            self.error(name, "Invalid hyperlink - Object does not exist.")
            return MISSING
        return obj_id


def hyperlink_id(value: str, collection: str) -> str | None:
    try:
        url = URL(value)
    except (ValueError, TypeError):
        return None
    if not url.is_absolute() or url.scheme not in ("http", "https"):
        return None
    parts = [p for p in url.path.split("/") if p]
    if len(parts) < 2 or parts[-2] != collection:
        return None
    return parts[-1]
