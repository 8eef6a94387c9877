"""Fictional members and keyed hashing: IDs and dates of birth are never kept in clear.

The hash key never lives in the store that holds the hashes: it is IVR_SECRET_KEY, or a file
of its own (IVR_SECRET_KEY_FILE, 0600), made once by whichever process needs it first.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml

from ivr.engine.errors import ConfigError

log = logging.getLogger(__name__)

MEMBERS_FILE = Path(__file__).parent.parent / "data" / "members.yaml"


@dataclass(frozen=True)
class MemberRow:
    """One member as the database keeps it: two keyed hashes and the order status."""

    id_hash: str
    check_hash: str
    order_status: dict[str, str]


def id_hash(key: bytes, member_id: str) -> str:
    """Keyed hash of a member ID (HMAC-SHA256)."""
    return hmac.new(key, b"id:" + member_id.encode(), hashlib.sha256).hexdigest()


def check_hash(key: bytes, member_hash: str, dob: str) -> str:
    """Keyed hash of an ID hash with a date of birth: what identifies a member."""
    return hmac.new(key, f"dob:{member_hash}:{dob}".encode(), hashlib.sha256).hexdigest()


def fixture_rows(key: bytes, path: Path = MEMBERS_FILE) -> list[MemberRow]:
    """Hash the fictional members file into rows for a store to seed."""
    rows = []
    for member in yaml.safe_load(path.read_text(encoding="utf-8")):
        h = id_hash(key, str(member["member_id"]))
        rows.append(MemberRow(h, check_hash(key, h, str(member["dob"])), member["order_status"]))
    return rows


def key_id(key: bytes) -> str:
    """A short name for a key that reveals nothing of it: which key a stored directory was hashed with."""
    return hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:16]


def load_key(secret_key: str | None, key_file: str | Path | None) -> bytes | None:
    """The member hash key: `secret_key`, else the file's (made, 0600, when missing), else None."""
    if secret_key:
        return secret_key.encode()
    if not key_file:
        return None
    path = Path(key_file)
    try:
        text = path.read_text(encoding="utf-8").strip() if path.exists() else _make_key_file(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read or create the member key file {path} ({exc.strerror or exc}): set "
            "IVR_SECRET_KEY_FILE to a writable place outside the database, or set IVR_SECRET_KEY"
        ) from exc
    if not text:
        raise ConfigError(f"the member key file {path} is empty: delete it to have one made, or fill it")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("the member key file %s can be read by other users: chmod 600 it", path)
    return text.encode()


def _make_key_file(path: Path) -> str:
    """Write a new key atomically: workers racing at start-up all end up with the first one made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)  # never replaces a key another process made meanwhile
            log.warning("made a new member key in %s: keep it (and back it up) apart from the database", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()
