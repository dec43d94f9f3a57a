"""VAM settings, driven by the environment.

Unset ``DATABASE_URL`` / ``REDIS_URL`` select the embedded default: SQLite in ``VAM_DATA_DIR`` and no Redis.
Production sets both (``postgres://…``, ``redis://…``).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

from vamsite.mail import mail_from_url
from vamsite.proxies import trusted_networks
from vamsite.roots import library_roots

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str) -> list[str]:
    """A comma-separated list (host names, origins: values that may hold colons)."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def database_from_url(url: str, data_dir: Path) -> dict:
    """Translate ``DATABASE_URL`` (postgres://user:pass@host:port/name or sqlite:///path) into Django's dict."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(data_dir / "vam.sqlite3")}
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": env_int("VAM_DB_CONN_MAX_AGE", 0),  # persistent connections are unsafe under ASGI
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc:  # sqlite://relative/path is a common mistake for sqlite:///relative/path
            path = parts.netloc + path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or str(data_dir / "vam.sqlite3")}
    raise ImproperlyConfigured(
        f"DATABASE_URL has an unsupported scheme {parts.scheme!r} (use postgres:// or sqlite://)"
    )


def secret_key(data_dir: Path) -> str:
    """``SECRET_KEY`` from the environment; the embedded default keeps a generated one in the data folder."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if os.environ.get("DATABASE_URL"):
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DATABASE_URL is set")
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: two processes starting at once agree on
        # whichever key was linked first, and nobody ever reads a half-written file.
        temporary = data_dir / f".secret_key.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, key_file)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return key_file.read_text().strip()


def machine_time_zone() -> str:
    """The zone this machine's clock is set to ($TZ, else /etc/localtime), read before Django pins TZ to UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name and not name.startswith("/"):
        return name
    link = Path(name or "/etc/localtime")
    try:
        target = str(link.resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        return timezone_file.read_text().strip() or "UTC"
    return "UTC"


def zone_name(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ImproperlyConfigured(f"unknown time zone {name!r} (use a name like Europe/Paris)") from exc
    return name


VAM_DATA_DIR = Path(env_str("VAM_DATA_DIR", str(BASE_DIR / "var"))).expanduser().resolve()
# From the environment, else from the data folder's list that `make run` fills (vamsite.roots).
VAM_LIBRARY_ROOTS, VAM_LIBRARY_ROOTS_FROM = library_roots(VAM_DATA_DIR)
# Pillow refuses images above twice this many pixels as decompression bombs. The default admits 200 MP phone
# photos (Samsung S24 Ultra: 12240x16320) and refuses the 16384x16384 PNG bomb.
VAM_MAX_IMAGE_PIXELS = env_int("VAM_MAX_IMAGE_PIXELS", 120_000_000)
VAM_THUMBNAIL_SIZES = [int(s) for s in env_str("VAM_THUMBNAIL_SIZES", "256,512").split(",") if s.strip()]
VAM_ANALYZE_WORKERS = env_int("VAM_ANALYZE_WORKERS", 0)  # 0: one per core
# Where a worker on the `gpu` queue runs the GPU path (auto: the GPU when torch sees one, else torch's CPU; cuda:
# the GPU or nothing). Only that worker imports torch (requirements-gpu.txt).
VAM_DEVICE = env_str("VAM_DEVICE", "auto").strip().lower()
if VAM_DEVICE not in ("auto", "cpu", "cuda"):
    raise ImproperlyConfigured(f"VAM_DEVICE must be auto, cpu or cuda, not {VAM_DEVICE!r}")
VAM_ANALYZE_FILE_TIMEOUT = env_int("VAM_ANALYZE_FILE_TIMEOUT", 300)  # seconds before a stuck file is given up
# A large analyze job is split into batches of this many files that every worker on the analysis queue shares.
VAM_ANALYZE_BATCH_FILES = env_int("VAM_ANALYZE_BATCH_FILES", 1000)
# A batch whose heartbeat (a thread beats it every 5 s, however slow its file) stopped this long is taken back:
# its worker died, or its node went away.
VAM_ANALYZE_BATCH_STALE_SECONDS = env_int("VAM_ANALYZE_BATCH_STALE_SECONDS", 30)
# Seconds organize waits between the steps of its protocol: 0, except to widen the windows in fault-injection tests.
VAM_ORGANIZE_PAUSE = float(env_str("VAM_ORGANIZE_PAUSE", "0") or 0)
# A move within one file system links the source to its temporary name instead of copying its bytes.
VAM_ORGANIZE_MOVE_BY_LINK = env_bool("VAM_ORGANIZE_MOVE_BY_LINK", True)
VAM_FFMPEG = env_str("VAM_FFMPEG", "ffmpeg")
# The zone the library's clocks were in: file modification times and UTC video times become wall-clock time there.
VAM_TIME_ZONE = zone_name(env_str("VAM_TIME_ZONE") or machine_time_zone())
VAM_FFPROBE = env_str("VAM_FFPROBE", "ffprobe")
# ExifTool (optional): maker-note lens and ISO, XMP/IPTC keywords, rating, title, CR3/RAF/MRW/X3F/CRW, camcorder tags.
VAM_EXIFTOOL = env_str("VAM_EXIFTOOL", "exiftool")

REDIS_URL = env_str("REDIS_URL")

# Jobs: RQ queues on REDIS_URL; without it (the embedded default) an in-process runner takes the same jobs.
_RQ_URL = REDIS_URL or "redis://127.0.0.1:6379/0"
RQ_QUEUES = {name: {"URL": _RQ_URL, "DEFAULT_TIMEOUT": 3600} for name in ("default", "analysis", "gpu")}
# Never infinite: a job past its limit is stopped by RQ and recorded as failed.
VAM_JOB_TIMEOUTS = {
    "analyze": env_int("VAM_JOB_TIMEOUT_ANALYZE", 24 * 3600),
    "organize": env_int("VAM_JOB_TIMEOUT_ORGANIZE", 24 * 3600),
    "thumbnails": env_int("VAM_JOB_TIMEOUT_THUMBNAILS", 12 * 3600),
    "duplicates": env_int("VAM_JOB_TIMEOUT_DUPLICATES", 2 * 3600),
}
VAM_EMBEDDED_JOB_THREADS = env_int("VAM_EMBEDDED_JOB_THREADS", 1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "vamsite.lockout.LockingTokenAuthentication",  # TokenAuthentication that locks out token guessing
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "vamsite.schema.VamAutoSchema",  # documents every error answer
    "EXCEPTION_HANDLER": "jobs.api.api_exception_handler",
    "URL_FORMAT_OVERRIDE": None,  # `format` is ours: the export format (json or csv) of plan and export reads
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VAM API",
    "DESCRIPTION": "Visual Asset Manager: background jobs (analyze, organize, thumbnails) and their progress.",
    "VERSION": "1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,  # a request body's own schema, with what it refuses (lengths, bounds)
    "COMPONENT_SPLIT_PATCH": False,  # PATCH /api/assets/{id} needs its one field, as the API refuses {}
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "vamsite.schema.add_error_and_stream"],
}
if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
SECRET_KEY = secret_key(VAM_DATA_DIR)
DEBUG = env_bool("VAM_DEBUG", False)
ALLOWED_HOSTS = env_list("VAM_ALLOWED_HOSTS") or ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = env_list("VAM_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",  # runserver serves ASGI (websockets) in development too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_rq",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",  # log-in lockout (vamsite.lockout)
    "catalog",
    "jobs",
]

MIDDLEWARE = [
    "vamsite.proxies.TrustedProxyMiddleware",  # first: the client's address and scheme, from trusted proxies only
    "vamsite.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "vamsite.middleware.RedisUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last: a locked-out log-in gets vamsite.lockout's page
]

ROOT_URLCONF = "vamsite.urls"
WSGI_APPLICATION = "vamsite.wsgi.application"
ASGI_APPLICATION = "vamsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "catalog.context.navigation",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL"), VAM_DATA_DIR)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server read while analyze writes.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 30}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Log-in lockout (vamsite.lockout, django-axes): this many wrong passwords for one user name from one address, or
# wrong API tokens from one address, refuse it for this many minutes. Rows in the database, so both backends.
VAM_LOGIN_FAILURE_LIMIT = env_int("VAM_LOGIN_FAILURE_LIMIT", 5)
VAM_LOGIN_LOCKOUT_MINUTES = env_int("VAM_LOGIN_LOCKOUT_MINUTES", 15)
AUTHENTICATION_BACKENDS = ["vamsite.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = VAM_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=VAM_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the wait the page names holds, however often one tries
AXES_LOCKOUT_CALLABLE = "vamsite.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "vamsite.proxies.client_address"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False

# Mail, for password reset links only: EMAIL_URL=smtp+tls://user:password@mail.example.com:587 (see vamsite.mail).
# Unset, the server sends no mail and the reset pages say that an administrator resets passwords instead.
_MAIL = mail_from_url(env_str("EMAIL_URL"))
VAM_PASSWORD_RESET_BY_MAIL = _MAIL.configured
EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT = _MAIL.backend, _MAIL.host, _MAIL.port
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _MAIL.user, _MAIL.password
EMAIL_USE_TLS, EMAIL_USE_SSL = _MAIL.starttls, _MAIL.ssl
DEFAULT_FROM_EMAIL = env_str("VAM_EMAIL_FROM") or "webmaster@localhost"
# With mail configured, a job's user (with an email address) gets a mail when the job ends; VAM_JOB_MAIL=0 stops it.
VAM_JOB_MAIL = _MAIL.configured and env_bool("VAM_JOB_MAIL", True)
# The address users reach VAM at (https://vam.example.com): webhooks and mails link to job pages under it.
VAM_BASE_URL = env_str("VAM_BASE_URL").rstrip("/")
# Seconds before each retry of a webhook POST that got a 5xx, 408 or 429 answer or none; then it has failed.
VAM_WEBHOOK_BACKOFF = [int(s) for s in env_str("VAM_WEBHOOK_BACKOFF", "10,60,300,1800,7200").split(",") if s.strip()]

LANGUAGE_CODE = "en-us"
# Pinned: Asset.taken_at holds wall-clock time labelled UTC, so every display must use UTC to show it unshifted.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
STATIC_URL = "static/"
STATIC_ROOT = VAM_DATA_DIR / "static"
try:  # collectstatic fills it; WhiteNoise serves from the app folders until then, and warns if it is absent
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# VAM_HTTPS=1: the site is served over HTTPS (a reverse proxy in front, or daphne itself): cookies only over HTTPS,
# HSTS, and plain http redirected. Unset (make run, plain http on localhost), none of it.
VAM_HTTPS = env_bool("VAM_HTTPS", False)
# Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (vamsite.proxies); nobody else's are.
VAM_TRUSTED_PROXIES = trusted_networks(env_list("VAM_TRUSTED_PROXIES"))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if VAM_TRUSTED_PROXIES else None
SECURE_SSL_REDIRECT = VAM_HTTPS
SECURE_HSTS_SECONDS = env_int("VAM_HSTS_SECONDS", 365 * 24 * 3600) if VAM_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("VAM_HSTS_INCLUDE_SUBDOMAINS", True)
# The browser preload list is hard to leave and binds every name under the domain: only when asked for. Without
# it, Django's advice to join the list (security.W021) is silenced.
SECURE_HSTS_PRELOAD = env_bool("VAM_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env_bool("VAM_SECURE_COOKIES", VAM_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"  # the csrftoken cookie stays readable by scripts: the API's X-CSRFToken needs it
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("VAM_LOG_LEVEL", "WARNING")},
}
