"""Choose the session store from the settings: Redis when a URL is given, else SQLite or memory."""

from __future__ import annotations

import logging

from ivr.engine.config import EngineConfig
from ivr.engine.errors import ConfigError
from ivr.engine.members import load_key
from ivr.engine.store import SessionStore
from ivr.stores.memory_store import MEMORY, MemoryStore
from ivr.stores.sqlite_store import SqliteStore

log = logging.getLogger(__name__)


def open_store(config: EngineConfig) -> SessionStore:
    """Open the store `config` names: `redis_url` (shared by hosts) wins over `database`.

    `database` is an SQLite file, or `:memory:` for dictionaries in this process (one worker).
    The member hash key is `secret_key` or the `secret_key_file`'s, never kept in the store;
    with neither, a key for this process only. Nothing is sent to the store here.
    """
    key = load_key(config.secret_key, config.secret_key_file)
    if config.redis_url:
        from ivr.stores.redis_store import RedisStore, redact_url  # redis-py is imported only when used

        log.info(
            "session store: Redis at %s, keys under %r", redact_url(config.redis_url), config.redis_prefix
        )
        return RedisStore(
            config.redis_url,
            ttl=config.session_ttl,
            record_ttl=config.record_ttl,
            secret_key=key,
            prefix=config.redis_prefix,
        )
    if not config.database:
        raise ConfigError(
            "no session store: set IVR_DATABASE to an SQLite file path, or IVR_REDIS_URL "
            "(or REDIS_URL) to a Redis URL such as redis://127.0.0.1:6379/0"
        )
    if config.database == MEMORY:
        log.info("session store: in memory (this process only; calls are lost at exit)")
        return MemoryStore(ttl=config.session_ttl, secret_key=key)
    log.info("session store: SQLite at %s", config.database)
    return SqliteStore(config.database, ttl=config.session_ttl, secret_key=key)
