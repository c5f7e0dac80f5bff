"""The install secret: a random key next to the audit log, used for keyed hashes.

Keyed hashes (HMAC-SHA256) let dsarctl recognise a value again (a suppressed e-mail address, an erased
identifier after a backup restore, an `anonymize: hash` field) without storing the value, and without
anyone who lacks the key being able to test guesses against the stored hashes. The key lives in
`<audit dir>/secret.key`, never in the inventory: the inventory is shared and versioned, the key is not.
"""

from __future__ import annotations

import functools
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


# -- sealing: a value kept so that only this installation can read it back -----------------------------
# The erase journal keeps each planned record's key sealed (AES-256-GCM, encrypted and authenticated), so
# that a resumed run acts on the planned records without listing every record of the source again, and
# the journal still holds no key in plain text. The AES key is derived from the install key with HKDF
# and a fixed label: it is not the key of the keyed hashes, and a value sealed for one purpose (the
# `context`, authenticated with it) does not open for another.
_SEAL_LABEL = b"dsarctl seal v1"
_SEAL_PREFIX = "v1:"


class SealError(DsarError):
    """A sealed value that does not open: sealed with another install key, or changed."""


@functools.lru_cache(maxsize=4)
def _sealer(key: bytes):
    """AES-256-GCM with the key HKDF-SHA256 derives from the install key and the fixed label."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_LABEL).derive(key))


def seal(key: bytes, value: bytes, context: str) -> str:
    """`value` encrypted and authenticated with a key derived from the install key `key`, as text;
    `context` (not secret, not stored) must be given again to open it."""
    import base64

    nonce = secrets.token_bytes(12)
    sealed = _sealer(key).encrypt(nonce, value, context.encode("utf-8"))
    return _SEAL_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_sealed(key: bytes, token: str, context: str) -> bytes:
    """The value `seal(key, value, context)` sealed; SealError when it does not open."""
    import base64
    import binascii

    from cryptography.exceptions import InvalidTag

    if not isinstance(token, str) or not token.startswith(_SEAL_PREFIX):
        raise SealError("not a sealed value of this version")
    try:
        raw = base64.urlsafe_b64decode(token[len(_SEAL_PREFIX):].encode("ascii"))
        return _sealer(key).decrypt(raw[:12], raw[12:], context.encode("utf-8"))
    except (InvalidTag, ValueError, binascii.Error):
        raise SealError("a sealed value does not open with this installation's key (another secret.key, "
                        "or the value was changed)") from None
