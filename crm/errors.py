"""Turning bad input into clear 4xx answers with field messages in the user's language."""

import logging
import re
from collections.abc import Mapping
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from crm.i18n import _

log = logging.getLogger("crm")


class FieldErrors(Exception):
    """Invalid input: one translated message per field (``"_"`` for the whole form)."""

    status_code = 400

    def __init__(self, errors: Mapping[str, str], status_code: int = 400) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)
        self.status_code = status_code


class Conflict(FieldErrors):
    """The input clashes with what is stored (a duplicate email, a code in use)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(errors, status_code=409)


_AT = re.compile(r" - at `\$\.?([^`]*)`$")


def describe(message: str) -> tuple[str, str]:
    """(field, translated message) for a msgspec validation message."""
    field = ""
    at = _AT.search(message)
    if at:
        field = at.group(1).split(".")[0].split("[")[0]
        message = message[: at.start()]
    if m := re.match(r"Object missing required field `([^`]+)`", message):
        return m.group(1), _("This field is required.")
    if m := re.search(r"of length <= (\d+)", message):
        return field, _("At most %(n)s characters.", n=m.group(1))
    if m := re.search(r"of length >= (\d+)", message):
        return field, (_("This field is required.") if m.group(1) == "1" else _("At least %(n)s characters.", n=m.group(1)))
    if m := re.search(r"`array` of length <= (\d+)", message):
        return field, _("At most %(n)s values.", n=m.group(1))
    if "Invalid enum value" in message:
        return field, _("Not one of the allowed values.")
    if "date" in message.lower() and ("Invalid" in message or "Expected `date`" in message):
        return field, _("Not a valid date (use YYYY-MM-DD or dd/mm/yyyy).")
    if m := re.match(r"Expected `(\w+)`", message):
        kind = {"int": _("a whole number"), "str": _("text"), "bool": _("true or false"), "date": _("a date"),
                "array": _("a list"), "object": _("an object"), "float": _("a number")}.get(m.group(1), m.group(1))
        return field, _("Wrong type: expected %(kind)s.", kind=kind)
    if "Object contains unknown field" in message:
        m = re.search(r"`([^`]+)`", message)
        return (m.group(1) if m else field), _("Unknown field.")
    if m := re.search(r"Expected `\w+` >= (-?\d+)", message):
        return field, _("Must be at least %(n)s.", n=m.group(1))
    if m := re.search(r"Expected `\w+` <= (-?\d+)", message):
        return field, _("Must be at most %(n)s.", n=m.group(1))
    return field, _("Invalid value.")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or request.url.path.startswith("/schema")


def _json(status: int, detail: str, errors: Mapping[str, str] | None = None) -> Response:
    content: dict[str, Any] = {"status_code": status, "detail": detail}
    if errors:
        content["errors"] = dict(errors)
    return Response(content=content, status_code=status, media_type=MediaType.JSON)


def _page(request: Request, status: int, title: str, message: str) -> Response:
    return Template(
        template_name="errors/error.html",
        context={"status": status, "title": title, "message": message},
        status_code=status,
    )


def field_errors_handler(request: Request, exc: FieldErrors) -> Response:
    detail = _("Some fields need attention.") if exc.status_code == 400 else _("This conflicts with existing data.")
    return _json(exc.status_code, detail, exc.errors)


def validation_handler(request: Request, exc: ValidationException) -> Response:
    errors: dict[str, str] = {}
    extra = exc.extra if isinstance(exc.extra, list) else []
    for entry in extra:
        if not isinstance(entry, dict):
            continue
        field, text = describe(str(entry.get("message", "")))
        key = entry.get("key")
        key = field or (key if key and key != "data" else "_")
        errors.setdefault(str(key), text)
    if not errors:
        errors["_"] = _("The request body is not valid JSON or has the wrong shape.")
    if not _wants_json(request):
        return _page(request, 400, _("Bad request"), "; ".join(errors.values()))
    return _json(400, _("Some fields need attention."), errors)


def not_authorized_handler(request: Request, exc: NotAuthorizedException) -> Response:
    if _wants_json(request):
        return _json(401, _("Log in or send an API token (Authorization: Bearer …)."))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    from urllib.parse import quote

    return Redirect(path=f"/login?next={quote(target)}", status_code=303)


def permission_denied_handler(request: Request, exc: PermissionDeniedException) -> Response:
    message = _("You do not have permission to do this.")
    if "CSRF" in str(exc.detail):
        message = _("The form has expired or was not sent from this site. Reload the page and try again.")
    if _wants_json(request):
        return _json(403, message)
    return _page(request, 403, _("Forbidden"), message)


def not_found_handler(request: Request, exc: NotFoundException) -> Response:
    if _wants_json(request):
        return _json(404, _("Not found."))
    return _page(request, 404, _("Not found"), _("The page or record you asked for does not exist."))


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    detail = _("Too many requests. Please wait a little and try again.") if status == 429 else str(exc.detail)
    if _wants_json(request):
        return _json(status, detail)
    return _page(request, status, str(status), detail)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = _("Something went wrong on our side. The error has been logged.")
    if _wants_json(request):
        return _json(HTTP_500_INTERNAL_SERVER_ERROR, message)
    return _page(request, 500, _("Server error"), message)


def _repository_not_found(request: Request, exc: Exception) -> Response:
    return not_found_handler(request, NotFoundException())


def _out_of_range(request: Request, exc: Exception) -> Response:
    """An id beyond 64 bits cannot name a stored record: the driver refuses it, we answer 404."""
    if isinstance(exc, OverflowError) or "out of int64 range" in str(exc) or "out of range" in str(exc):
        return not_found_handler(request, NotFoundException())
    return internal_error_handler(request, exc)


def exception_handlers() -> dict:
    from advanced_alchemy.exceptions import NotFoundError
    from sqlalchemy.exc import DBAPIError

    return {
        OverflowError: _out_of_range,
        DBAPIError: _out_of_range,
        FieldErrors: field_errors_handler,
        ValidationException: validation_handler,
        NotAuthorizedException: not_authorized_handler,
        PermissionDeniedException: permission_denied_handler,
        NotFoundException: not_found_handler,
        NotFoundError: _repository_not_found,
        HTTPException: http_exception_handler,
        Exception: internal_error_handler,
    }
