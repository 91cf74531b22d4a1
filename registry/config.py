"""Where the registry keeps its state, read once from the environment.

Everything the product writes lives under ``LICREG_HOME`` (default ``./var``)::

    var/registry.db        the SQLite registry (unless LICREG_DATABASE_URL names another)
    var/keystore/          encrypted PKCS#8 keys and certificates (TEST ONLY)
    var/files/             uploaded department files, content-addressed by SHA-256
    var/province/          the mock provincial endpoint's own database
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from registry.errors import ConfigError

__all__ = ["PASSPHRASE_VAR", "SCHEMA_DIR", "Settings"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
"""The JSON Schemas and data files shipped with licreg (license types, layouts, mappings)."""

PASSPHRASE_VAR = "LICREG_KEY_PASSPHRASE"  # noqa: S105 - the name of the variable, not a secret


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`from_env`; tests build them directly."""

    home: Path
    """Root of everything the registry writes."""
    database_url: str
    """SQLAlchemy URL of the registry database."""
    passphrase: bytes | None = None
    """Keystore passphrase, or None when not configured (signing then fails clearly)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("LICREG_HOME") or "var").resolve()
        url = env.get("LICREG_DATABASE_URL") or f"sqlite:///{home / 'registry.db'}"
        phrase = env.get(PASSPHRASE_VAR)
        return cls(home=home, database_url=url, passphrase=phrase.encode() if phrase else None)

    @property
    def keystore(self) -> Path:
        return self.home / "keystore"

    @property
    def files(self) -> Path:
        return self.home / "files"

    @property
    def province_home(self) -> Path:
        return self.home / "province"

    def require_passphrase(self) -> bytes:
        if not self.passphrase:
            raise ConfigError(
                f"{PASSPHRASE_VAR} is not set: the keystore under {self.keystore} is encrypted "
                f"and cannot be opened without it (the demo uses a TEST ONLY passphrase; "
                f"see README)"
            )
        return self.passphrase
