"""ERROR records logged while a test runs: the catch-all webhook handler hides crashes as 200s."""

from __future__ import annotations

import logging


class LoggedErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
