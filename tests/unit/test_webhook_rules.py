"""Webhooks without I/O: where a URL may point, the back-off schedule, the aggregate's rules and
which events a billing run becomes."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from domain.errors import InvalidValueError, StateError
from domain.webhook import Webhook
from projections.records import ledger_row, listed_entry
from tests.helpers import utc
from webhooks.events import delivery_id, mismatch_digest, run_events
from webhooks.schedule import gives_up, retry_delay
from webhooks.store import Endpoint
from webhooks.url_policy import address_refusal, check_url

T0 = utc(2026, 3, 1, 12)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "100.100.100.200",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "0.0.0.0",
        "224.0.0.1",
        "192.0.0.192",  # Oracle Cloud metadata
        # 169.254.169.254 inside IPv6, each way an IPv6 address can carry an IPv4 one
        "::a9fe:a9fe",  # IPv4-compatible ::/96
        "::ffff:0:a9fe:a9fe",  # IPv4-translated ::ffff:0:0:0/96
        "64:ff9b:1:a9fe:a9:fe00::",  # local-use NAT64 64:ff9b:1::/48 (RFC 6052 /48 layout)
        "2002:a9fe:a9fe::1",  # 6to4 2002::/16
    ],
)
def test_link_local_and_metadata_addresses_are_refused_even_when_insecure_is_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_insecure=True) is not None
    assert address_refusal(ipaddress.ip_address(address), allow_insecure=False) is not None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "fd12::1",
        "100.64.0.1",
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "::ffff:a00:5",  # IPv4-mapped 10.0.0.5
        # outside 2000::/3, though the ipaddress module calls them global
        "4000::1",
        "::ffff:5db8:d822",  # IPv4-mapped 93.184.216.34
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    ],
)
def test_loopback_and_private_addresses_only_when_insecure_is_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_insecure=False) is not None
    assert address_refusal(ipaddress.ip_address(address), allow_insecure=True) is None


def test_public_addresses_are_allowed() -> None:
    assert address_refusal(ipaddress.ip_address("93.184.216.34"), allow_insecure=False) is None
    assert address_refusal(ipaddress.ip_address("2606:2800:220:1::1"), allow_insecure=False) is None
    assert address_refusal(ipaddress.ip_address("2002:5db8:d822::1"), allow_insecure=False) is None  # 6to4


@pytest.mark.parametrize(
    ("url", "insecure"),
    [
        ("http://example.com/h", False),  # https only in production
        ("ftp://example.com/h", True),
        ("https://user:pw@example.com/h", True),
        ("https:///h", True),
        ("https://example.com/h#frag", True),
        ("https://example.com:0/h", True),
        ("https://exa mple.com/h", True),
        ("https://localhost/h", False),
        ("https://169.254.169.254/", True),
        ("https://[fe80::1]/", True),
        ("https://example.com/" + "a" * 2000, True),
    ],
)
def test_bad_urls_are_refused_naming_url(url: str, insecure: bool) -> None:
    with pytest.raises(InvalidValueError) as refused:
        check_url(url, insecure)

    assert refused.value.field == "url"


def test_a_good_url_is_split_for_the_attempt() -> None:
    target = check_url("https://billing.example.com:8443/hooks?x=1", allow_insecure=False)

    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "billing.example.com",
        8443,
        "/hooks?x=1",
    )


def test_an_internationalised_host_is_sent_in_its_ascii_form_and_the_url_kept_as_given() -> None:
    target = check_url("https://bücher.de/hooks", allow_insecure=False)

    assert target.host == "xn--bcher-kva.de"
    assert _webhook(url="https://bücher.de/hooks").url == "https://bücher.de/hooks"
    with pytest.raises(InvalidValueError) as refused:
        check_url("https://☃-⌘.com/hooks", allow_insecure=False)  # no IDNA form
    assert refused.value.field == "url"


def test_the_back_off_doubles_from_the_base_up_to_the_cap_within_its_jitter() -> None:
    # base 5 s: 5, 10, 20, 40 ... capped at 3600; the jitter scales each into [0.5, 1) of it
    lows = [retry_delay(n, 5, 3600, 0.0) for n in range(1, 6)]
    highs = [retry_delay(n, 5, 3600, 0.999999) for n in range(1, 6)]

    assert lows == [2.5, 5, 10, 20, 40]
    assert all(abs(h - 2 * low) < 0.001 for h, low in zip(highs, lows, strict=True))
    assert retry_delay(30, 5, 3600, 0.0) == 1800
    assert retry_delay(10_000, 5, 3600, 0.0) == 1800  # no overflow after many attempts
    with pytest.raises(ValueError):
        retry_delay(0, 5, 3600, 0.0)


def test_an_endpoint_is_given_up_after_the_retry_period() -> None:
    three_days = 3 * 24 * 3600.0

    assert not gives_up(1000.0, 1000.0 + three_days - 1, three_days)
    assert gives_up(1000.0, 1000.0 + three_days, three_days)


def _webhook(url: str = "https://billing.example.com/h") -> Webhook:
    return Webhook.register(
        webhook_id="w1",
        url=url,
        events=["billing.run.completed", "ledger.entry.issued", "ledger.entry.issued"],
        description="",
        secret_id="sec-1",
        registered_by="admin",
        registered_at=T0,
    )


def test_a_webhook_records_who_registered_rotated_and_disabled_it() -> None:
    w = _webhook()

    until = w.rotate_secret(secret_id="sec-2", rotated_by="admin", rotated_at=T0 + timedelta(hours=1))
    first = w.disable(reason="moved", disabled_by="dispatcher", disabled_at=T0 + timedelta(hours=2))
    again = w.disable(reason="moved", disabled_by="admin", disabled_at=T0 + timedelta(hours=3))

    assert w.events == ("billing.run.completed", "ledger.entry.issued")
    assert until == T0 + timedelta(hours=25)
    assert (w.secret_id, w.previous_secret_id, w.previous_valid_until) == ("sec-2", "sec-1", until)
    assert (first, again, w.active, w.disabled_by) == (True, False, False, "dispatcher")
    names = [type(e).__name__ for e in w.collect_events()]
    assert names == ["Registered", "SecretRotated", "Disabled"]
    with pytest.raises(StateError):
        w.rotate_secret(secret_id="sec-3", rotated_by="admin", rotated_at=T0 + timedelta(hours=4))


@pytest.mark.parametrize(
    ("field", "changes"),
    [("events", {"events": []}), ("events[0]", {"events": ["ledger.everything"]}), ("url", {"url": "gopher://x"})],
)
def test_a_webhook_with_bad_values_is_refused(field: str, changes: dict[str, object]) -> None:
    values: dict[str, object] = {
        "webhook_id": "w1",
        "url": "https://billing.example.com/h",
        "events": ["ledger.entry.issued"],
        "description": "",
        "secret_id": "sec-1",
        "registered_by": "admin",
        "registered_at": T0,
    }
    with pytest.raises(InvalidValueError) as refused:
        Webhook.register(**{**values, **changes})  # type: ignore[arg-type]

    assert refused.value.field == field


def test_a_run_becomes_its_entries_as_the_ledger_lists_them_then_its_summary() -> None:
    entries = [
        {"entry_id": "E000000004", "customer_id": "a", "contract_id": "c1", "month": "2026-02", "kind": "credit",
         "amount_minor": 500, "currency": "EUR"},
        {"entry_id": "E000000005", "customer_id": "b", "contract_id": "c2", "month": "2026-01", "kind": "adjustment",
         "amount_minor": -200, "currency": "EUR"},
    ]  # fmt: skip

    events = run_events(12, "RUN-000002-2026-02", "2026-02", "2026-03-01T12:00:00Z", entries)

    assert [(e.type, e.event_id) for e in events] == [
        ("ledger.entry.issued", "evt_12_0"),
        ("ledger.entry.issued", "evt_12_1"),
        ("billing.run.completed", "evt_12_2"),
    ]
    assert events[0].data == listed_entry(ledger_row("RUN-000002-2026-02", "2026-03-01T12:00:00Z", entries[0]))
    assert "seq" not in events[0].data and events[0].data["invoice_id"] is None
    assert events[2].data["counts"] == {"EUR": {"credit": 1, "adjustment": 1}}
    assert events[2].data["totals"] == {"EUR": {"credit": 500, "adjustment": -200}}
    assert delivery_id(events[0], "w1") != delivery_id(events[0], "w2")
    assert delivery_id(events[0], "w1") == delivery_id(run_events(12, "R", "m", "t", entries)[0], "w1")


def test_a_self_check_report_is_identified_by_its_differences() -> None:
    clean = {"mismatched": {}}
    found = {"mismatched": {"a": [{"kind": "period", "contract_id": "c1", "key": "2026-01"}]}}

    assert mismatch_digest(clean) is None
    assert mismatch_digest(found) == mismatch_digest({**found, "last_slice_at": "later"})


def test_the_previous_secret_signs_only_until_its_overlap_ends() -> None:
    e = Endpoint("w1", "https://x", ("ledger.entry.issued",), True, "sec-2", (("sec-1", 1000.0),))

    assert e.signing_secret_ids(999.0) == ["sec-2", "sec-1"]
    assert e.signing_secret_ids(1000.0) == ["sec-2"]


def test_a_second_rotation_within_the_overlap_keeps_every_replaced_secret_until_its_own_end() -> None:
    e = Endpoint("w1", "https://x", ("ledger.entry.issued",), True, "sec-1")

    # rotated at 0 and at 100, each replaced secret signing for 1000 more
    twice = e.rotated("sec-2", "sec-1", 1000.0, 0.0).rotated("sec-3", "sec-2", 1100.0, 100.0)
    # at 1050 the first one's overlap has ended; a rotation at 1050 forgets it
    thrice = twice.rotated("sec-4", "sec-3", 2050.0, 1050.0)

    assert twice.signing_secret_ids(500.0) == ["sec-3", "sec-2", "sec-1"]
    assert twice.signing_secret_ids(1050.0) == ["sec-3", "sec-2"]
    assert thrice.previous == (("sec-2", 1100.0), ("sec-3", 2050.0))


def test_a_webhook_rotated_twice_in_a_day_keeps_both_replaced_secrets() -> None:
    w = _webhook()

    first = w.rotate_secret(secret_id="sec-2", rotated_by="admin", rotated_at=T0 + timedelta(hours=1))
    second = w.rotate_secret(secret_id="sec-3", rotated_by="admin", rotated_at=T0 + timedelta(hours=2))
    w.rotate_secret(secret_id="sec-4", rotated_by="admin", rotated_at=T0 + timedelta(hours=25, minutes=30))

    # at 25:30 the first overlap (to 25:00) has ended, the second (to 26:00) has not
    assert (first, second) == (T0 + timedelta(hours=25), T0 + timedelta(hours=26))
    assert w.previous_secrets == [("sec-2", second), ("sec-3", T0 + timedelta(hours=49, minutes=30))]
