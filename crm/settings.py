"""One Settings object, read once from ``CRM_*`` environment variables.

The defaults make ``crm serve`` work with zero configuration: a SQLite file under ``var/``,
an in-process scheduler, a local SMTP sink, and a secret generated and kept under ``var/``.
"""

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

LANGUAGES = ("vi", "en")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"CRM_{name}")
    return value if value not in (None, "") else default


def _flag(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _load_or_create_secret(var_dir: Path) -> str:
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written with 0600 so other local users cannot forge sessions or signed links.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    echo: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class MailSettings:
    host: str = "127.0.0.1"
    port: int = 8025
    user: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | ssl
    sender: str = "Thư viện <thu-vien@localhost>"
    #: Run the aiosmtpd sink in-process and point SMTP at it (embedded mode).
    embedded_sink: bool = True


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    secret_key: str
    database: DatabaseSettings
    mail: MailSettings
    base_url: str = "http://127.0.0.1:8000"
    default_language: str = "vi"
    #: Run the APScheduler scheduler inside ``crm serve`` (off when a separate worker runs).
    run_scheduler: bool = True
    debug: bool = False
    max_upload_bytes: int = 20 * 1024 * 1024
    extra: dict = field(default_factory=dict)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def load_settings() -> Settings:
    var_dir = Path(_env("VAR_DIR", "var")).resolve()
    secret = _env("SECRET_KEY") or _load_or_create_secret(var_dir)
    db_url = _env("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'crm.db'}"
    smtp_host = _env("SMTP_HOST")
    mail = MailSettings(
        host=smtp_host or "127.0.0.1",
        port=int(_env("SMTP_PORT", "8025")),
        user=_env("SMTP_USER"),
        password=_env("SMTP_PASSWORD"),
        tls=(_env("SMTP_TLS", "none") or "none").lower(),
        sender=_env("MAIL_FROM", MailSettings.sender),
        embedded_sink=_flag("SMTP_SINK", smtp_host is None),
    )
    language = _env("DEFAULT_LANGUAGE", "vi")
    if language not in LANGUAGES:
        raise SystemExit(f"CRM_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return Settings(
        var_dir=var_dir,
        secret_key=secret,
        database=DatabaseSettings(url=db_url, echo=_flag("DATABASE_ECHO", False)),
        mail=mail,
        base_url=(_env("BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
        default_language=language,
        run_scheduler=_flag("RUN_SCHEDULER", True),
        debug=_flag("DEBUG", False),
    )
