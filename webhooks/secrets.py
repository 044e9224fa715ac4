"""Webhook signing secrets: made here, kept in `webhook_secrets`, never in the log.

A secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form). With
SLACREDITS_WEBHOOK_SECRET_KEY set (a Fernet key: `python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"`), the stored row holds it encrypted
(`fernet:<token>`), so that a copy of the database (a backup, a replica, an export of the
table) does not give the secrets away; without it the row holds it as is (`plain:<secret>`),
protected only by the database's own access control."""

from __future__ import annotations

import base64
import secrets
import time
import uuid

from cryptography.fernet import Fernet, InvalidToken

from webhooks.store import WebhookStore


class SecretUnavailableError(Exception):
    """A stored secret cannot be read (no row, or sealed with another key)."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Secrets:
    def __init__(self, store: WebhookStore, key: str | None) -> None:
        self.store = store
        self.fernet = Fernet(key.encode()) if key else None

    def seal(self, secret: str) -> str:
        if self.fernet is None:
            return "plain:" + secret
        return "fernet:" + self.fernet.encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        kind, _, text = sealed.partition(":")
        if kind == "plain":
            return text
        if kind == "fernet" and self.fernet is not None:
            try:
                return self.fernet.decrypt(text.encode()).decode()
            except InvalidToken:
                raise SecretUnavailableError("sealed with another SLACREDITS_WEBHOOK_SECRET_KEY") from None
        raise SecretUnavailableError("sealed with a key: set SLACREDITS_WEBHOOK_SECRET_KEY")

    def create(self, webhook_id: str) -> tuple[str, str]:
        """A new secret, stored first under a new id; answers (secret_id, secret). The fact that
        names the id is recorded next: if it is not, the row is never used."""
        secret_id = f"sec-{uuid.uuid4().hex}"
        secret = new_secret()
        self.store.put_secret(secret_id, webhook_id, self.seal(secret), time.time())
        return secret_id, secret

    def get(self, secret_id: str) -> str:
        sealed = self.store.sealed_secret(secret_id)
        if sealed is None:
            raise SecretUnavailableError(f"no stored secret {secret_id}")
        return self.unseal(sealed)
