"""The install secret: a random key next to the audit log, used for keyed hashes.

Keyed hashes (HMAC-SHA256) let dsarctl recognise a value again (a suppressed e-mail address, an erased
identifier after a backup restore, an `anonymize: hash` field) without storing the value, and without
anyone who lacks the key being able to test guesses against the stored hashes. The key lives in
`<audit dir>/secret.key`, never in the inventory: the inventory is shared and versioned, the key is not.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .errors import DsarError

KEY_FILE = "secret.key"
KEY_BYTES = 32


def load_or_create_key(directory: Path) -> bytes:
    """The 32-byte key in `directory/secret.key`, created (mode 0600) on first use.

    Creation is atomic: the key is written to a private temporary file and hard-linked into place, which
    fails if the file already exists. Two processes racing both end up with the key that won.
    """
    directory = Path(directory)
    path = directory / KEY_FILE
    key = _read(path)
    if key is not None:
        return key
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process wrote first
        except FileExistsError:
            pass
        except OSError:  # no hard links here (some network or FAT file systems): exclusive create
            _create_exclusive(path, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)
    key = _read(path)
    if key is None:  # pragma: no cover - only if someone deletes it between link and read
        raise DsarError(f"{path}: the key file vanished while it was being created")
    return key


def _create_exclusive(path: Path, key: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)


def _read(path: Path) -> bytes | None:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DsarError(f"{path}: cannot read the install key ({exc.strerror})") from None
    if len(key) != KEY_BYTES:
        raise DsarError(f"{path}: the install key must be {KEY_BYTES} bytes, found {len(key)}; "
                        "restore it from a backup (without it, suppression lists no longer match)")
    return key


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 hex of "kind:value": the same value of the same kind always gives the same hash."""
    return hmac.new(key, f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()
