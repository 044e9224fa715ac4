"""The web console's sign-in: an API key exchanged for a session cookie, and CSRF tokens.

The cookie (`slac_session`, HttpOnly, SameSite=Strict, Path=/ui, Secure when served over
HTTPS) holds a value signed with a key derived from the service's API keys: the role, a
fingerprint of the key (never the key itself), a random CSRF secret and the expiry. A
session ends when it expires, when the user signs out, or when its key is removed from
SLACREDITS_API_KEYS; a sign-out is recorded in the database, so the cookie is refused by every
worker afterwards even if it was kept. Forms carry a token derived from the CSRF secret; a POST without it, or
from another origin, is refused."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.settings import ApiKey

COOKIE = "slac_session"


@dataclass(frozen=True)
class Session:
    role: str
    fingerprint: str
    csrf: str
    expires: float

    def csrf_token(self) -> str:
        return hmac.new(self.csrf.encode(), b"console-form", hashlib.sha256).hexdigest()

    @property
    def session_id(self) -> str:
        """What a sign-out records (not the CSRF secret itself)."""
        return hashlib.sha256(b"sla-credits console session id:" + self.csrf.encode()).hexdigest()

    def accepts(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf_token(), token)


def fingerprint(key: str) -> str:
    return hashlib.sha256(b"sla-credits console:" + key.encode()).hexdigest()[:32]


class Sessions:
    def __init__(self, keys: list[ApiKey], seconds: float, secret: str | None = None) -> None:
        self.keys = keys
        self.seconds = seconds
        # every worker derives the same signing key from the same settings
        material = secret or "|".join(sorted(f"{k.role}:{k.key}" for k in keys))
        self._signer = URLSafeTimedSerializer(
            hashlib.sha256(b"sla-credits console session:" + material.encode()).hexdigest(), salt="console"
        )

    def sign_in(self, presented: str) -> tuple[Session, str] | None:
        """The session and cookie value for a valid key, or None."""
        for key in self.keys:
            if key.matches(presented):
                session = Session(key.role, fingerprint(key.key), secrets.token_urlsafe(16), time.time() + self.seconds)
                value = self._signer.dumps([session.role, session.fingerprint, session.csrf, session.expires])
                return session, value
        return None

    def read(self, value: str | None) -> tuple[Session | None, str | None]:
        """(the session, None) or (None, why there is none: 'expired', 'invalid' or None)."""
        if not value:
            return None, None
        try:
            role, fp, csrf, expires = self._signer.loads(value)
        except (BadSignature, ValueError, TypeError):
            return None, "invalid"
        if time.time() > float(expires):
            return None, "expired"
        if not any(k.role == role and hmac.compare_digest(fingerprint(k.key), fp) for k in self.keys):
            return None, "invalid"  # the key was removed or changed since sign-in
        return Session(role, fp, csrf, float(expires)), None
