"""The member hash key never lives in the store that holds the hashes.

By default it is a file of its own (0600) in the instance folder; an app that answers a real
number (a Twilio auth token or webhook shared key set) refuses to start until the key is
configured. Real SQLite files, a real redis-server and gunicorn.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from ivr.engine.errors import ConfigError

from .phone import Phone
from .redis_server import RedisServer, scan_everything
from .servers import Gunicorn, gunicorn
from .test_members_directory import VERIFIED, _all_verified

pytest_plugins = ["tests.redis_server"]

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"


def _verify(app: Flask) -> str:
    return Phone(app).dial().press("1").press(MEMBER_ID + "#").press(MEMBER_DOB).heard


def _database_bytes(database: Path) -> bytes:
    return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))


def test_the_key_is_a_0600_file_of_its_own_not_in_the_sqlite_file(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "member.key"
    app = make_app(SECRET_KEY_FILE=str(key_file))
    assert VERIFIED in _verify(app)
    key = key_file.read_text().strip()
    assert len(key) >= 64 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    database = Path(app.config["DATABASE"])
    app.extensions["ivr"].store.close()
    assert key.encode() not in _database_bytes(database)
    db = sqlite3.connect(database)
    assert db.execute(
        "SELECT COUNT(*) FROM meta WHERE key LIKE '%key' AND key != 'members_key_id'"
    ).fetchone() == (0,)
    assert VERIFIED in _verify(make_app(SECRET_KEY_FILE=str(key_file)))  # the same key after a restart
    assert key_file.read_text().strip() == key


def test_the_default_key_file_is_in_the_instance_folder(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "ivr.sqlite3")})
    key_file = Path(app.instance_path) / "member.key"
    assert app.config["SECRET_KEY_FILE"] == str(key_file)
    assert VERIFIED in _verify(app)
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_an_old_database_loses_the_key_it_kept(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('member_key', ?)", ("ab" * 32,))
    db.commit()
    db.close()
    app = make_app(DATABASE=str(database), SECRET_KEY_FILE=str(tmp_path / "member.key"))
    assert VERIFIED in _verify(app)
    app.extensions["ivr"].store.close()
    assert sqlite3.connect(database).execute("SELECT * FROM meta WHERE key = 'member_key'").fetchall() == []


def test_redis_never_holds_the_key(
    make_app: Callable[..., Flask], redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "member.key"
    app = make_app(REDIS_URL=redis_server.url, REDIS_PREFIX=redis_prefix, SECRET_KEY_FILE=str(key_file))
    assert VERIFIED in _verify(app)
    key = key_file.read_text().strip()
    texts = scan_everything(redis_server.client())
    assert not [t for t in texts if key in t]
    assert f"{redis_prefix}member_key" not in texts


@pytest.mark.parametrize(
    "real_number",
    [{"TWILIO_AUTH_TOKEN": "a-real-token"}, {"TWILIO_WEBHOOK_SHARED_KEY": "a-shared-key"}],
    ids=["auth-token", "shared-key"],
)
def test_an_app_for_a_real_number_refuses_to_start_without_a_key(
    tmp_path: Path, real_number: dict[str, str]
) -> None:
    settings = {"TESTING": True, "DATABASE": str(tmp_path / "ivr.sqlite3"), **real_number}
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert "IVR_SECRET_KEY" in str(refused.value) and "IVR_SECRET_KEY_FILE" in str(refused.value)
    assert not (tmp_path / "ivr.sqlite3").exists()  # refused before anything was written
    settings["TRAINER_PASSWORD"] = "trainer-passphrase"  # a real number's trainer page needs one
    create_app({**settings, "SECRET_KEY": "k" * 64})
    create_app({**settings, "SECRET_KEY_FILE": str(tmp_path / "member.key")})


def test_gunicorn_for_a_real_number_without_a_key_says_why(tmp_path: Path) -> None:
    settings = {"IVR_DATABASE": str(tmp_path / "ivr.sqlite3"), "TWILIO_AUTH_TOKEN": "a-real-token"}
    server = Gunicorn(settings, tmp_path)
    try:
        assert server.proc.wait(60) != 0  # a setting to mend, not an outage: it stops and says why
    finally:
        server.stop()
    assert "ConfigError" in server.text() and "IVR_SECRET_KEY_FILE" in server.text()


def test_workers_creating_the_key_file_at_once_share_one_key(tmp_path: Path) -> None:
    settings = {
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
        "IVR_SECRET_KEY_FILE": str(tmp_path / "new.key"),
    }
    with gunicorn(settings, tmp_path, workers=4) as server:
        _all_verified(server, calls=8)
    assert stat.S_IMODE((tmp_path / "new.key").stat().st_mode) == 0o600
