"""The Webhook aggregate: an endpoint a billing system registered to hear about our facts.

Registering, disabling and rotating its secret are facts (who and when). The secret itself is
never in a fact: a fact names the secret by an id (`secret_id`) under which the service keeps it
apart from the log (webhooks/secrets.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

import idna
from eventsourcing.domain import Aggregate, event

from domain.contract import _require_id
from domain.errors import InvalidValueError, StateError
from domain.idempotency import fingerprint
from domain.identity import named_uuid
from domain.limits import check_instant, check_text

EVENT_TYPES = ("ledger.entry.issued", "billing.run.completed", "views.mismatch")
# the previous secret keeps signing beside the new one this long after a rotation
ROTATION_OVERLAP = timedelta(hours=24)
MAX_URL_LENGTH = 2000


def webhook_uuid(webhook_id: str) -> UUID:
    return named_uuid("webhook", webhook_id)


def ascii_host(host: str) -> str:
    """The host as sent (Host header, TLS server name, DNS): an internationalised name in its
    ASCII form (`bücher.de` -> `xn--bcher-kva.de`, IDNA 2008 with the UTS 46 mapping, as
    browsers do); an ASCII name or an address as it is."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as e:
        raise InvalidValueError("url", f"the host is not a valid internationalised domain name ({e})") from None


def check_url_form(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials (where it may point is decided by
    the URL policy of the delivering side, webhooks/url_policy.py). The URL is kept as given; a
    host that is not ASCII must have an ASCII (IDNA) form, which is what is sent."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidValueError("url", f"must be an absolute URL of at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise InvalidValueError("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidValueError("url", "is not a valid URL") from None
    if parts.scheme not in ("https", "http"):
        raise InvalidValueError("url", "must start with https://")
    if not parts.hostname:
        raise InvalidValueError("url", "must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidValueError("url", "must not carry credentials (user:password@)")
    if parts.fragment:
        raise InvalidValueError("url", "must not have a #fragment")
    if port == 0:
        raise InvalidValueError("url", "must not use port 0")
    ascii_host(parts.hostname)
    return url


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise InvalidValueError("events", f"must name at least one of {', '.join(EVENT_TYPES)}")
    for i, name in enumerate(events):
        if name not in EVENT_TYPES:
            raise InvalidValueError(f"events[{i}]", f"must be one of {', '.join(EVENT_TYPES)}")
    return sorted(set(events))


class Webhook(Aggregate):
    @staticmethod
    def create_id(webhook_id: str) -> UUID:
        return webhook_uuid(webhook_id)

    @classmethod
    def register(
        cls,
        *,
        webhook_id: str,
        url: str,
        events: list[str],
        description: str,
        secret_id: str,
        registered_by: str,
        registered_at: datetime,
    ) -> Webhook:
        _require_id(webhook_id, "webhook_id")
        check_url_form(url)
        chosen = check_events(events)
        check_text(description, "description", 500, blank=True)
        _require_id(secret_id, "secret_id")
        _require_id(registered_by, "registered_by")
        at = check_instant(registered_at, "registered_at")
        return cls(webhook_id, url, chosen, description, secret_id, registered_by, at)

    @staticmethod
    def registering_print(url: str, events: list[str], description: str) -> str:
        return fingerprint("register_webhook", url=url, events=sorted(set(events)), description=description)

    @event("Registered")
    def __init__(
        self,
        webhook_id: str,
        url: str,
        events: list[str],
        description: str,
        secret_id: str,
        registered_by: str,
        registered_at: datetime,
    ) -> None:
        self.webhook_id = webhook_id
        self.url = url
        self.events = tuple(events)
        self.description = description
        self.secret_id = secret_id
        self.registered_by = registered_by
        self.registered_at = registered_at
        self.previous_secret_id: str | None = None  # the one the last rotation replaced
        self.previous_valid_until: datetime | None = None
        # every replaced secret still signing: (secret_id, until when), oldest first
        self.previous_secrets: list[tuple[str, datetime]] = []
        self.rotated_at: datetime | None = None
        self.rotated_by: str | None = None
        self.disabled_at: datetime | None = None
        self.disabled_by: str | None = None
        self.disabled_reason: str | None = None
        self.registered_print = self.registering_print(url, list(events), description)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def disable(self, *, reason: str, disabled_by: str, disabled_at: datetime) -> bool:
        """Stop deliveries to this endpoint for good; False when it was already disabled."""
        check_text(reason, "reason", 500, blank=True)
        _require_id(disabled_by, "disabled_by")
        at = check_instant(disabled_at, "disabled_at")
        if not self.active:
            return False
        self._disable(reason, disabled_by, at)
        return True

    @event("Disabled")
    def _disable(self, reason: str, disabled_by: str, disabled_at: datetime) -> None:
        self.disabled_at = disabled_at
        self.disabled_by = disabled_by
        self.disabled_reason = reason

    def rotate_secret(self, *, secret_id: str, rotated_by: str, rotated_at: datetime) -> datetime:
        """Sign with a new secret from now on, and with the current one too for ROTATION_OVERLAP
        (an earlier secret still in its overlap keeps signing until its own end); answers until
        when the current one still signs."""
        _require_id(secret_id, "secret_id")
        _require_id(rotated_by, "rotated_by")
        at = check_instant(rotated_at, "rotated_at")
        if not self.active:
            raise StateError("webhook_id", "the webhook is disabled: register a new one")
        if secret_id == self.secret_id:
            raise InvalidValueError("secret_id", "must be a new secret")
        until = at + ROTATION_OVERLAP
        self._rotate(secret_id, self.secret_id, until, rotated_by, at)
        return until

    @event("SecretRotated")
    def _rotate(
        self,
        secret_id: str,
        previous_secret_id: str,
        previous_valid_until: datetime,
        rotated_by: str,
        rotated_at: datetime,
    ) -> None:
        self.previous_secret_id = previous_secret_id
        self.previous_valid_until = previous_valid_until
        # derived from the facts' own instants (no rule checked here): the event's data is as before
        kept = [(i, until) for i, until in self.previous_secrets if until > rotated_at]
        self.previous_secrets = [*kept, (previous_secret_id, previous_valid_until)]
        self.secret_id = secret_id
        self.rotated_at = rotated_at
        self.rotated_by = rotated_by
