"""Login, logout, language, the librarian's own account and API tokens, and account admin."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _
from crm.security import schemas
from crm.security.guards import admin_required, librarian_required
from crm.security.middleware import AuthMiddleware, session_fingerprint
from crm.security.models import User
from crm.security.services import UserService, to_schema, token_schema, user_values
from crm.settings import LANGUAGES

__all__ = ["ROUTES", "AuthMiddleware"]

#: Per client address: enough for a person who mistypes, too few for guessing passwords.
LOGIN_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 10), exclude=[])

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class LoginController(Controller):
    include_in_schema = False

    @get("/login")
    async def login_page(self, request: Request, next: str | None = None) -> Template | Redirect:
        if request.user is not None:
            return Redirect(path=_safe_next(next), status_code=303)
        return Template("security/login.html", context={"next": _safe_next(next), "values": {}, "errors": {}})

    @post("/login", middleware=[LOGIN_RATE_LIMIT.middleware])
    async def login(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        email, password = (form.get("email") or "").strip(), form.get("password") or ""
        user = await UserService(db_session).authenticate(email, password) if email and password else None
        if user is None:
            return Template(
                "security/login.html",
                context={"next": _safe_next(form.get("next")), "values": {"email": email},
                         "errors": {"_": _("Wrong email or password.")}},
                status_code=400,
            )
        request.set_session({"uid": user.id, "fp": session_fingerprint(user.password_hash)})
        return Redirect(path=_safe_next(form.get("next")), status_code=303)

    @post("/logout")
    async def logout(self, request: Request) -> Redirect:
        request.clear_session()
        return Redirect(path="/login", status_code=303)

    @post("/language")
    async def set_language(self, request: Request, db_session: AsyncSession) -> Redirect:
        form = await request.form()
        lang = form.get("language")
        back = _safe_next(form.get("next"))
        if lang not in LANGUAGES:
            raise FieldErrors({"language": _("Not one of the allowed values.")})
        if request.user is not None:
            request.user.language = lang
            await db_session.flush()
        response = Redirect(path=back, status_code=303)
        response.set_cookie("lang", lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
        return response


class AccountController(Controller):
    """The librarian's own account: name, language, password, API tokens."""

    path = "/account"
    guards = [librarian_required]
    include_in_schema = False

    async def _page(self, request: Request, db: AsyncSession, status: int = 200, **extra: Any) -> Template:
        tokens = await UserService(db).list_tokens(request.user)
        context = {"tokens": tokens, "errors": {}, "values": user_values(request.user), "new_token": None}
        context.update(extra)
        return Template("security/account.html", context=context, status_code=status)

    @get("/")
    async def account(self, request: Request, db_session: AsyncSession) -> Template:
        return await self._page(request, db_session)

    @post("/")
    async def update_account(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        data = {k: form.get(k) for k in ("full_name", "language", "title", "phone")}
        if form.get("password"):
            if not UserService.verify_current(request.user, form.get("current_password") or ""):
                return await self._page(request, db_session, 400, values=form_values(form),
                                        errors={"current_password": _("The current password is not correct.")})
            data["password"] = form.get("password")
        try:
            update = validate({k: v for k, v in data.items() if v is not None}, schemas.UserUpdate)
            user = await UserService(db_session).update_user(request.user, update, acting=request.user)
        except FieldErrors as exc:
            return await self._page(request, db_session, 400, values=form_values(form), errors=exc.errors)
        if "password" in data:
            request.set_session({"uid": user.id, "fp": session_fingerprint(user.password_hash)})
        response = Redirect(path="/account?saved=1", status_code=303)
        response.set_cookie("lang", user.language, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
        return response

    @post("/tokens")
    async def create_token(self, request: Request, db_session: AsyncSession) -> Template:
        form = await request.form()
        try:
            data = validate(form, schemas.TokenCreate)
        except FieldErrors as exc:
            return await self._page(request, db_session, 400, token_errors=exc.errors)
        _row, token = await UserService(db_session).create_token(request.user, data.name)
        return await self._page(request, db_session, new_token=token)

    @post("/tokens/{token_id:int}/revoke")
    async def revoke_token(self, request: Request, db_session: AsyncSession, token_id: int) -> Redirect:
        if not await UserService(db_session).revoke_token(request.user, token_id):
            raise NotFoundException()
        return Redirect(path="/account", status_code=303)


class UserAdminController(Controller):
    """Administrators manage librarian accounts."""

    path = "/admin/users"
    guards = [admin_required]
    include_in_schema = False

    @get("/")
    async def list_page(self, db_session: AsyncSession) -> Template:
        return Template("security/users.html", context={"users": await UserService(db_session).list_users()})

    @get("/new")
    async def new_page(self) -> Template:
        return Template("security/user_form.html", context={"item": None, "values": {"role": "librarian", "language": "vi"}, "errors": {}})

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        try:
            await UserService(db_session).create_user(validate(form, schemas.UserCreate))
        except FieldErrors as exc:
            return Template("security/user_form.html", context={"item": None, "values": form_values(form), "errors": exc.errors}, status_code=exc.status_code)
        return Redirect(path="/admin/users", status_code=303)

    @get("/{user_id:int}")
    async def edit_page(self, db_session: AsyncSession, user_id: int) -> Template:
        user = await _get_user(db_session, user_id)
        return Template("security/user_form.html", context={"item": user, "values": user_values(user), "errors": {}})

    @post("/{user_id:int}")
    async def update(self, request: Request, db_session: AsyncSession, user_id: int) -> Template | Redirect:
        user = await _get_user(db_session, user_id)
        form = await request.form()
        data = {k: form.get(k) for k in ("email", "full_name", "role", "language", "title", "phone") if form.get(k) is not None}
        data["is_active"] = "on" if form.get("is_active") else "off"
        if form.get("password"):
            data["password"] = form.get("password")
        try:
            await UserService(db_session).update_user(user, validate(data, schemas.UserUpdate), acting=request.user)
        except FieldErrors as exc:
            return Template("security/user_form.html", context={"item": user, "values": form_values(form), "errors": exc.errors}, status_code=exc.status_code)
        return Redirect(path="/admin/users", status_code=303)


async def _get_user(db: AsyncSession, user_id: int) -> User:
    user = await UserService(db).get(user_id)
    if user is None:
        raise NotFoundException()
    return user


class UserApiController(Controller):
    path = "/api"
    tags = ["accounts"]

    @get("/me", guards=[librarian_required])
    async def me(self, request: Request) -> schemas.User:
        return to_schema(request.user)

    @get("/users", guards=[admin_required])
    async def list_users(self, db_session: AsyncSession) -> list[schemas.User]:
        return [to_schema(u) for u in await UserService(db_session).list_users()]

    @post("/users", guards=[admin_required])
    async def create_user(self, db_session: AsyncSession, data: schemas.UserCreate) -> schemas.User:
        return to_schema(await UserService(db_session).create_user(data))

    @get("/users/{user_id:int}", guards=[admin_required])
    async def get_user(self, db_session: AsyncSession, user_id: int) -> schemas.User:
        return to_schema(await _get_user(db_session, user_id))

    @patch("/users/{user_id:int}", guards=[admin_required])
    async def update_user(self, request: Request, db_session: AsyncSession, user_id: int, data: schemas.UserUpdate) -> schemas.User:
        user = await _get_user(db_session, user_id)
        return to_schema(await UserService(db_session).update_user(user, data, acting=request.user))

    @get("/tokens", guards=[librarian_required])
    async def list_tokens(self, request: Request, db_session: AsyncSession) -> list[schemas.Token]:
        return [token_schema(t) for t in await UserService(db_session).list_tokens(request.user)]

    @post("/tokens", guards=[librarian_required])
    async def create_token(self, request: Request, db_session: AsyncSession, data: schemas.TokenCreate) -> schemas.TokenCreated:
        row, token = await UserService(db_session).create_token(request.user, data.name)
        return schemas.TokenCreated(id=row.id, name=row.name, token=token)

    @delete("/tokens/{token_id:int}", guards=[librarian_required])
    async def revoke_token(self, request: Request, db_session: AsyncSession, token_id: int) -> None:
        if not await UserService(db_session).revoke_token(request.user, token_id):
            raise NotFoundException()


ROUTES = [LoginController, AccountController, UserAdminController, UserApiController]
