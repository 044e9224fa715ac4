"""One delivery attempt: resolve, check, connect to the checked address, sign, POST.

The URL's host is resolved once (webhooks/url_policy.py) and the request goes to the address
that was checked: the URL given to httpx names the IP itself, the `Host` header and the TLS
server name (httpx's `sni_hostname` request extension; the certificate is verified against it)
name the host, so nothing resolves the name a second time. Redirects are not followed (a 3xx is
a failed attempt), connections are not kept (a kept connection would be chosen by address, not
by name) and the answer's body is not read."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from domain.errors import DomainError
from webhooks.url_policy import check_url, resolve

USER_AGENT = "sla-credits-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None  # the receiver's HTTP status, None when there was no answer
    error: str | None


def signature(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per signing secret, space-separated."""
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)


class Sender:
    def __init__(self, timeout: float, allow_insecure: bool) -> None:
        self.allow_insecure = allow_insecure
        self.client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            trust_env=False,  # no proxy from the environment: the checked address is the one connected to
        )

    def close(self) -> None:
        self.client.close()

    def send(self, url: str, msg_id: str, body: str, secrets: list[str], now: datetime | None = None) -> Outcome:
        """One attempt; never raises: whatever goes wrong is a failed attempt with its reason
        (an exception escaping here would leave the head unrecorded and retried at once, for ever)."""
        try:
            return self._send(url, msg_id, body, secrets, now)
        except Exception as e:
            return Outcome(False, None, f"{type(e).__name__}: {e}"[:300])

    def _send(self, url: str, msg_id: str, body: str, secrets: list[str], now: datetime | None) -> Outcome:
        at = (now or datetime.now(UTC)).astimezone(UTC)
        try:
            target = check_url(url, self.allow_insecure)
            address = resolve(target, self.allow_insecure)
        except DomainError as e:
            return Outcome(False, None, f"refused: {e.reason}")
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        default_port = 443 if target.scheme == "https" else 80
        try:
            is_ipv6_name = isinstance(ipaddress.ip_address(target.host), ipaddress.IPv6Address)
        except ValueError:
            is_ipv6_name = False
        host = f"[{target.host}]" if is_ipv6_name else target.host
        headers = {
            "host": host if target.port == default_port else f"{host}:{target.port}",
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature(secrets, msg_id, at, body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self.client.build_request(
            "POST",
            f"{target.scheme}://{literal}:{target.port}{target.path}",
            content=body.encode(),
            headers=headers,
            extensions=extensions,
        )
        try:
            response = self.client.send(request, stream=True)
            response.close()
        except httpx.TimeoutException:
            return Outcome(False, None, "timed out")
        except httpx.HTTPError as e:
            return Outcome(False, None, f"{type(e).__name__}: {e}"[:300])
        if 200 <= response.status_code < 300:
            return Outcome(True, response.status_code, None)
        return Outcome(False, response.status_code, f"answered HTTP {response.status_code}")
