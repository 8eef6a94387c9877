"""The member directory survives Redis losing its data: a restart with nothing saved, an eviction.

Real processes: gunicorn (two workers, the repo's gunicorn.conf.py) on a redis-server that this
test kills and starts again empty on the same port. A correct ID and date of birth must still
be accepted on every worker, and the operator must be told the directory had gone.
"""

from __future__ import annotations

from pathlib import Path

import redis

from ivr.sim import HttpTransport, SimulatedCall

from .phone import MAIN
from .servers import Gunicorn, RedisProcess, gunicorn, redis_process

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"
VERIFIED = "Thank you, you're verified."


def _identify(server: Gunicorn, dob: str = MEMBER_DOB) -> str:
    """A caller who presses 1, keys the ID, then the date of birth; what was said after that."""
    call = SimulatedCall(HttpTransport(timeout=15), MAIN, base_url=server.url)
    call.dial()
    call.press("1")
    call.press(MEMBER_ID + "#")
    call.press(dob)
    return call.heard


def _all_verified(server: Gunicorn, calls: int = 4) -> None:
    # A new connection per request: the calls land on both workers.
    for _ in range(calls):
        heard = _identify(server)
        assert VERIFIED in heard, f"{heard!r}\n{server.text()[-3000:]}"


def _settings(redis_server: RedisProcess, tmp_path: Path) -> dict[str, str]:
    return {"IVR_REDIS_URL": redis_server.url, "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key")}


def test_an_empty_redis_restart_keeps_identity_checks_working(tmp_path: Path) -> None:
    with (
        redis_process(tmp_path) as redis_server,
        gunicorn(_settings(redis_server, tmp_path), tmp_path) as server,
    ):
        _all_verified(server)
        assert VERIFIED not in _identify(server, dob="01011990")  # a wrong date is still refused
        redis_server.stop()
        redis_server.start()  # nothing saved: every key is gone
        _all_verified(server)
        log = server.text()
        assert "member directory" in log and "re-seeded" in log, log[-3000:]


def test_an_evicted_directory_is_reseeded_and_logged(tmp_path: Path) -> None:
    with (
        redis_process(tmp_path) as redis_server,
        gunicorn(_settings(redis_server, tmp_path), tmp_path) as server,
    ):
        _all_verified(server, calls=1)
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        directory = [k for k in client.scan_iter(match="*members*")]
        assert directory, "no member directory in Redis"
        client.delete(*directory)  # what allkeys-lru does to a key nobody read lately
        _all_verified(server)
        assert client.exists(*directory) == len(directory)
        assert "member directory" in server.text()


def test_a_restarted_server_keeps_the_same_member_key(tmp_path: Path) -> None:
    """Workers that boot after Redis lost its data agree with the ones that kept running."""
    with redis_process(tmp_path) as redis_server:
        settings = _settings(redis_server, tmp_path)
        with gunicorn(settings, tmp_path) as server:
            _all_verified(server, calls=1)
            redis_server.stop()
            redis_server.start()
            server.reload()  # new workers beside a Redis that forgot everything
            _all_verified(server)
        with gunicorn(settings, tmp_path) as server:
            _all_verified(server)
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        assert not [k for k in client.scan_iter() if "key" in k], "a member key is kept in Redis"
