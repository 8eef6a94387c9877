"""Session stores behind one contract (ivr.engine.store): SQLite, Redis and memory."""

from .open import open_store

__all__ = ["open_store"]
