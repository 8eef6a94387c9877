"""Fictional members and keyed hashing: IDs and dates of birth are never kept in clear."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import yaml

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
