"""How Twilio signs a webhook, for the simulated callers that stand in for it.

Twilio signs with the account auth token (HMAC-SHA1) unless a Webhook Rule matches the URL;
then it signs with the rule's SharedKey and algorithm and says so in
X-Twilio-Webhooks-Signature-Settings (`key=<id>,algorithm=HMAC_SHA256`). The string signed is
the same either way: the URL, then the POST fields sorted by name.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from hashlib import sha1, sha256
from typing import Any

from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
#: The key id a simulated caller names in the settings header (our app does not look it up).
SIMULATED_KEY_ID = "KSsimulated"


def shared_keys(value: Any) -> tuple[str, ...]:
    """TWILIO_WEBHOOK_SHARED_KEY: one secret, or several separated by commas while rotating
    (or already a sequence of secrets, as create_app leaves it in the app's config)."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s for s in (str(item).strip() for item in items) if s)


def signs_webhooks(config: Mapping[str, Any]) -> bool:
    """Whether an app with this config checks signatures (an auth token or a shared key set)."""
    return bool(config.get("TWILIO_AUTH_TOKEN") or shared_keys(config.get("TWILIO_WEBHOOK_SHARED_KEY")))


@dataclass(frozen=True)
class Signer:
    """A secret and the way Twilio uses it; `key_id` set means a shared key (settings header)."""

    secret: str
    key_id: str | None = None
    algorithm: str = HMAC_SHA1

    @classmethod
    def shared_key(cls, secret: str, algorithm: str = HMAC_SHA256) -> Signer:
        return cls(secret, SIMULATED_KEY_ID, algorithm)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Signer | None:
        """How to sign for an app with this config: its auth token, else its first shared key."""
        if config.get("TWILIO_AUTH_TOKEN"):
            return cls(str(config["TWILIO_AUTH_TOKEN"]))
        keys = shared_keys(config.get("TWILIO_WEBHOOK_SHARED_KEY"))
        return cls.shared_key(keys[0]) if keys else None

    def headers(self, url: str, fields: Mapping[str, str]) -> dict[str, str]:
        """The headers Twilio would add to this request."""
        out = {SIGNATURE_HEADER: signature(self.secret, url, fields, self.algorithm)}
        if self.key_id is not None:
            out[SETTINGS_HEADER] = f"key={self.key_id},algorithm={self.algorithm}"
        return out


def signature(secret: str, url: str, fields: Mapping[str, str], algorithm: str = HMAC_SHA1) -> str:
    """RequestValidator(secret).compute_signature(url, dict(fields), algorithm), computed the same
    way (the URL, then each field's name and value, sorted by name; HMAC; base64) without its
    per-field lookups, which raise and catch two AttributeErrors a field on a plain dict."""
    mac = _mac(secret, algorithm.upper())
    params = dict(fields)
    if mac is None or not all(type(k) is str and type(v) is str for k, v in params.items()):
        # An algorithm Twilio has not (its ValueError), or fields that are not plain strings.
        computed: str = validator(secret).compute_signature(url, params, algorithm)
        return computed
    signed = mac.copy()
    signed.update((url + "".join([name + params[name] for name in sorted(params)])).encode("utf-8"))
    return base64.b64encode(signed.digest()).decode("utf-8").strip()


_DIGESTS = {HMAC_SHA1: sha1, HMAC_SHA256: sha256}


@lru_cache(maxsize=16)
def _mac(secret: str, algorithm: str) -> hmac.HMAC | None:
    """An HMAC keyed with `secret` and nothing signed yet, copied for each signature."""
    digest = _DIGESTS.get(algorithm)
    return None if digest is None else hmac.new(secret.encode("utf-8"), digestmod=digest)


@lru_cache(maxsize=8)
def validator(secret: str) -> RequestValidator:
    """Twilio's request validator for an auth token or shared key, built once per secret."""
    return RequestValidator(secret)
