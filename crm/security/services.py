"""Accounts, passwords (argon2) and personal API tokens."""

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, FieldErrors
from crm.forms import cleaned, normalize_email
from crm.i18n import _
from crm.security import schemas
from crm.security.models import ApiToken, User

TOKEN_PREFIX = "crm_"
_hasher = PasswordHasher()
#: Verifying against this keeps login timing the same whether or not the account exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email.strip().lower()))

    async def list_users(self) -> list[User]:
        return list(await self.session.scalars(select(User).order_by(User.full_name)))

    async def list_librarians(self) -> list[User]:
        return list(await self.session.scalars(select(User).where(User.is_active).order_by(User.full_name)))

    async def _check_email(self, email: str, exclude_id: int | None = None) -> str:
        email = normalize_email(email).lower()
        query = select(User.id).where(User.email == email)
        if exclude_id is not None:
            query = query.where(User.id != exclude_id)
        if await self.session.scalar(query) is not None:
            raise Conflict({"email": _("An account with this email already exists.")})
        return email

    async def create_user(self, data: schemas.UserCreate) -> User:
        values = cleaned(data)
        values["email"] = await self._check_email(values["email"])
        values["password_hash"] = hash_password(values.pop("password"))
        user = User(**values)
        self.session.add(user)
        await self.session.flush()
        return user

    async def update_user(self, user: User, data: schemas.UserUpdate, acting: User | None = None) -> User:
        values = cleaned(data)
        if "email" in values:
            values["email"] = await self._check_email(values["email"], exclude_id=user.id)
        if "password" in values:
            values["password_hash"] = hash_password(values.pop("password"))
        if acting is not None and acting.id == user.id and (
            values.get("role", user.role) != "admin" or values.get("is_active", True) is False
        ) and user.role == "admin":
            raise FieldErrors({"role": _("You cannot remove your own administrator rights or deactivate yourself.")})
        if user.role == "admin" and (values.get("role", "admin") != "admin" or values.get("is_active") is False):
            admins = await self.session.scalar(
                select(func.count()).select_from(User).where(User.role == "admin", User.is_active, User.id != user.id)
            )
            if not admins:
                raise FieldErrors({"role": _("At least one active administrator must remain.")})
        for key, value in values.items():
            setattr(user, key, value)
        await self.session.flush()
        return user

    @staticmethod
    def verify_current(user: User, password: str) -> bool:
        return verify_password(user.password_hash, password)

    async def authenticate(self, email: str, password: str) -> User | None:
        user = await self.get_by_email(email)
        if user is None or not user.is_active:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = datetime.now(UTC)
        await self.session.flush()
        return user

    # --- API tokens -----------------------------------------------------------------------

    async def create_token(self, user: User, name: str) -> tuple[ApiToken, str]:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user.id, name=name.strip() or "token", token_hash=hash_token(token), prefix=token[:12])
        self.session.add(row)
        await self.session.flush()
        return row, token

    async def list_tokens(self, user: User) -> list[ApiToken]:
        query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        return list(await self.session.scalars(query))

    async def revoke_token(self, user: User, token_id: int) -> bool:
        row = await self.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
        if row is None:
            return False
        row.revoked = True
        await self.session.flush()
        return True

    async def user_for_token(self, token: str) -> User | None:
        row = await self.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False))
        )
        if row is None or not row.user.is_active:
            return None
        now = datetime.now(UTC)
        # Touch at most once a minute so reads through a token stay reads.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            row.last_used_at = now
        return row.user


def to_schema(user: User) -> schemas.User:
    return schemas.User(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,  # type: ignore[arg-type]
        language=user.language,  # type: ignore[arg-type]
        is_active=user.is_active,
        title=user.title,
        phone=user.phone,
        last_login_at=user.last_login_at,
    )


def token_schema(row: ApiToken) -> schemas.Token:
    return schemas.Token(
        id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at,
        last_used_at=row.last_used_at, revoked=row.revoked,
    )


def user_values(user: User) -> dict[str, Any]:
    return {k: getattr(user, k) for k in ("email", "full_name", "role", "language", "title", "phone", "is_active")}
