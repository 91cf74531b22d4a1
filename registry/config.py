"""Where the registry keeps its state and whom it talks to, read once from the environment.

Everything the product writes lives under ``LICREG_HOME`` (default ``./var``)::

    var/registry.db        the SQLite registry (unless LICREG_DATABASE_URL names another)
    var/keystore/          encrypted PKCS#8 keys and certificates (TEST ONLY)
    var/files/             uploaded department files, content-addressed by SHA-256
    var/inbox/, archive/   department drop folders and where taken files go
    var/province/          the mock provincial endpoint's own database

The command line, the flows and the tests all build one :class:`Settings` (``from_env`` or
directly) and hand its values to library calls; nothing below this module reads the
environment.

Everything under ``LICREG_HOME`` is its owner's alone (folders 0700, files 0600, certificates
0400), whatever the umask licreg was started with: building a :class:`Settings` makes the
process's umask at least 0o077 (:func:`keep_files_private`), so each file a command, a flow,
a worker or the mock platform it starts creates is private from its first byte; key files and
certificates also get their modes explicitly (:mod:`registry.seal.keyfile`).

>>> s = Settings.from_env({"LICREG_HOME": "/srv/licreg", "LICREG_PROVINCE_URL": "http://p"})
>>> s.database_url, s.province.endpoint, s.province.access_id
('sqlite:////srv/licreg/registry.db', 'http://p', 'licreg-demo')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import ConfigError

__all__ = [
    "DEFAULT_ACCESS_ID",
    "DEFAULT_TOKEN",
    "PASSPHRASE_VAR",
    "PRIVATE_UMASK",
    "SCHEMA_DIR",
    "ProvinceSettings",
    "Settings",
    "keep_files_private",
]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
"""The JSON Schemas and data files shipped with licreg (license types, layouts, mappings)."""

PASSPHRASE_VAR = "LICREG_KEY_PASSPHRASE"  # noqa: S105 - the name of the variable, not a secret
DEFAULT_ACCESS_ID = "licreg-demo"
"""The mock provincial endpoint's documented test caller."""
DEFAULT_TOKEN = "TEST-ONLY-province-token"  # noqa: S105 - the mock endpoint's documented test credential
PRIVATE_UMASK = 0o077
"""The permission bits no file or folder licreg creates gives: none for group or others."""


def keep_files_private() -> None:
    """Make this process (and the processes it starts, which inherit it) create files and
    folders for their owner only: the umask gains :data:`PRIVATE_UMASK`, keeping any bits it
    had (a umask of 0o277 stays 0o277)."""
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


@dataclass(frozen=True)
class ProvinceSettings:
    """The provincial platform this registry pushes to."""

    endpoint: str | None = None
    """Base URL (``LICREG_PROVINCE_URL``); None when not configured."""
    access_id: str = DEFAULT_ACCESS_ID
    """Our caller id there (``LICREG_PROVINCE_ACCESS_ID``)."""
    secret: str = DEFAULT_TOKEN
    """Our token or HMAC secret (``LICREG_PROVINCE_TOKEN``)."""
    scheme: str = "token"
    """``token`` (bearer) or ``hmac`` request signing (``LICREG_PROVINCE_AUTH``)."""

    def require_endpoint(self) -> str:
        if not self.endpoint:
            raise ConfigError("LICREG_PROVINCE_URL is not set: the sync does not know the "
                              "provincial endpoint")
        return self.endpoint


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`from_env`; tests build them directly."""

    home: Path
    """Root of everything the registry writes."""
    database_url: str
    """SQLAlchemy URL of the registry database."""
    passphrase: bytes | None = None
    """Keystore passphrase, or None when not configured (signing then fails clearly)."""
    province: ProvinceSettings = field(default_factory=ProvinceSettings)
    """The provincial platform."""
    inbox_root: Path | None = None
    """Department drop folders (``LICREG_INBOX``; default ``home/inbox``)."""
    archive_root: Path | None = None
    """Where taken inbox files go (``LICREG_ARCHIVE``; default ``home/archive``)."""
    dask_address: str | None = None
    """The Dask scheduler of the ``ingest-dask`` deployment (``LICREG_DASK_ADDRESS``)."""
    lang: str = "zh"
    """The language people are spoken to in: ``zh`` (the default) or ``en``
    (``LICREG_LANG``, or ``licreg --lang``)."""

    def __post_init__(self) -> None:
        # Settings are built where licreg starts (the command line, each flow and worker, a
        # library caller): from then on, everything it writes is private.
        keep_files_private()

    def make_home(self) -> Path:
        """Create ``home`` (0700) if it does not exist yet; return it."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.home

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("LICREG_HOME") or "var").resolve()
        url = env.get("LICREG_DATABASE_URL") or f"sqlite:///{home / 'registry.db'}"
        phrase = env.get(PASSPHRASE_VAR)
        province = ProvinceSettings(
            endpoint=env.get("LICREG_PROVINCE_URL") or None,
            access_id=env.get("LICREG_PROVINCE_ACCESS_ID") or DEFAULT_ACCESS_ID,
            secret=env.get("LICREG_PROVINCE_TOKEN") or DEFAULT_TOKEN,
            scheme=env.get("LICREG_PROVINCE_AUTH") or "token",
        )
        inbox, archive = env.get("LICREG_INBOX"), env.get("LICREG_ARCHIVE")
        return cls(home=home, database_url=url, passphrase=phrase.encode() if phrase else None,
                   province=province, inbox_root=Path(inbox) if inbox else None,
                   archive_root=Path(archive) if archive else None,
                   dask_address=env.get("LICREG_DASK_ADDRESS") or None,
                   lang=env.get("LICREG_LANG") or "zh")

    @property
    def keystore(self) -> Path:
        return self.home / "keystore"

    @property
    def files(self) -> Path:
        return self.home / "files"

    @property
    def province_home(self) -> Path:
        return self.home / "province"

    @property
    def inbox(self) -> Path:
        return self.inbox_root or self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.archive_root or self.home / "archive"

    def require_passphrase(self) -> bytes:
        if not self.passphrase:
            raise ConfigError(
                f"{PASSPHRASE_VAR} is not set: the keystore under {self.keystore} is encrypted "
                f"and cannot be opened without it (the demo uses a TEST ONLY passphrase; "
                f"see README)"
            )
        return self.passphrase
