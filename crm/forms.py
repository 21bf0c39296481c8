"""Form and API input → msgspec Structs, with every field's error reported at once.

API handlers let Litestar decode ``data: XCreate`` (one error at a time, mapped by
``crm.errors``); HTML forms go through :func:`validate`, which converts field by field so a
librarian sees every problem of a form in one go, in their language.
"""

import datetime as dt
import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from email_validator import EmailNotValidError, validate_email

from crm.errors import FieldErrors, describe
from crm.i18n import _
from crm.text import nfc

S = TypeVar("S", bound=msgspec.Struct)

#: Fields checked as email addresses while converting a form, so their errors come with the rest.
EMAIL_FIELDS = {"email", "student_email", "reply_to"}
_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _base_type(annotation: Any) -> Any:
    """Strip Annotated and Optional: ``Annotated[str, Meta] | None`` → ``str``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a not in (type(None), msgspec.UnsetType)]
        return _base_type(args[0]) if len(args) == 1 else annotation
    return annotation


def _is_optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_optional(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    return origin in (typing.Union, types.UnionType) and (type(None) in args or msgspec.UnsetType in args)


def _raw_value(data: Any, name: str, base: Any) -> Any:
    is_list = typing.get_origin(base) in (list, tuple, set) or base in (list, tuple, set)
    if is_list:
        if hasattr(data, "getall"):
            values = data.getall(name, [])
        else:
            values = data.get(name, [])
            values = values if isinstance(values, list | tuple) else [values]
        return [v for v in (nfc(str(v)) for v in values) if v]
    value = data.get(name)
    if base is bool:
        if value is None:
            return None
        return str(value).lower() in {"1", "true", "on", "yes"}
    if isinstance(value, str):
        value = nfc(value)
        if value and base is dt.date and (m := _VN_DATE.match(value)):
            value = f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
    return value


@functools.cache
def _fields(schema: type[msgspec.Struct]) -> tuple[dict[str, Any], tuple[msgspec.structs.FieldInfo, ...]]:
    """A schema's type hints and fields, worked out once (a CSV import validates thousands of rows)."""
    return typing.get_type_hints(schema, include_extras=True), msgspec.structs.fields(schema)


def validate(data: Mapping[str, Any], schema: type[S]) -> S:
    """Convert form data (strings) to ``schema``, raising FieldErrors with every bad field."""
    hints, fields = _fields(schema)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        annotation = hints[field.name]
        base = _base_type(annotation)
        raw = _raw_value(data, field.name, base)
        if raw is None and base is bool and field.default is not msgspec.UNSET:
            raw = False  # an unticked checkbox is not sent at all
        if raw is None:
            if field.required and not _is_optional(annotation):
                errors[field.name] = _("This field is required.")
            elif field.required:
                values[field.name] = None
            continue
        try:
            values[field.name] = msgspec.convert(raw, annotation, strict=False)
        except msgspec.ValidationError as exc:
            errors[field.name] = describe(str(exc))[1]
            continue
        if field.name in EMAIL_FIELDS and isinstance(values[field.name], str):
            try:
                values[field.name] = normalize_email(values[field.name], field.name)
            except FieldErrors as exc:
                errors.update(exc.errors)
    if errors:
        raise FieldErrors(errors)
    try:
        return msgspec.convert(values, schema, strict=False)
    except msgspec.ValidationError as exc:  # cross-field rules declared in __post_init__
        field, message = describe(str(exc))
        raise FieldErrors({field or "_": message}) from exc


def cleaned(struct: msgspec.Struct) -> dict[str, Any]:
    """A struct's fields as a dict, strings NFC-normalized and trimmed (blank → None)."""
    out: dict[str, Any] = {}
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if value is msgspec.UNSET:
            continue
        if isinstance(value, str):
            value = nfc(value)
        elif isinstance(value, list):
            value = [nfc(v) if isinstance(v, str) else v for v in value]
            value = [v for v in value if v not in (None, "")]
        out[name] = value
    return out


def normalize_email(value: str, field: str = "email") -> str:
    """A syntactically valid address (no DNS lookups), NFC, domain lower-cased."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise FieldErrors({field: _("Not a valid email address.")}) from None
    return nfc(result.normalized) or ""


def form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """A form's submitted values for re-display (lists kept for multi-selects)."""
    if hasattr(data, "getall") and hasattr(data, "keys"):
        out: dict[str, Any] = {}
        for key in set(data.keys()):
            items = data.getall(key)
            out[key] = items if len(items) > 1 else items[0]
        return out
    return dict(data)
