"""The Flask class the app is built on: Flask, with two per-request costs taken off every webhook.

- `request_class`: the one-pass form decoder (webhooks/form.py).
- `ensure_sync`: Flask asks it on every request for every hook and view whether the function is
  a coroutine (inspect.iscoroutinefunction, about six times a request). The answer never
  changes for a function, so it is kept per function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from .form import FormRequest


class IvrFlask(Flask):
    request_class = FormRequest

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync[func]
        except KeyError:
            if len(self._sync) >= 1024:  # functions made per request (none here): stay bounded
                self._sync.clear()
            sync = self._sync[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)
