"""The explanation in words an account manager can read out to a customer: amounts in the
contract's currency, instants in its local time (the zone named), from the explanation's own
figures (nothing is computed here but the notice a maintenance window was given)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.formatting import duration, local_instant, money


def _announced(announced_at: str, starts_at: str) -> str:
    """How long before its start a maintenance window was announced, in words."""
    notice = datetime.fromisoformat(starts_at.replace("Z", "+00:00")) - datetime.fromisoformat(
        announced_at.replace("Z", "+00:00")
    )
    if notice.total_seconds() < 0:
        return "announced only after it had started"
    return f"announced {duration(notice.days * 86400 + notice.seconds)} before"


def explanation_text(doc: dict[str, Any]) -> str:
    out = [f"Service credit for {doc['customer_id']}, {doc['month']}"]
    if not doc["periods"]:
        out.append("No contract of this customer was active in this month, so there is no credit.")
    for p in doc["periods"]:
        cur, tz = p["currency"], p["timezone"]

        def at(text: str | None, tz: str = tz) -> str:
            return local_instant(text, tz)

        out.append("")
        out.append(f"Contract {p['contract_id']} (period {p['status']}); times are local to {tz}.")
        out.append(
            f"The month is measured in the contract's time zone from {at(p['measured_window']['start'])} "
            f"to {at(p['measured_window']['end'])}."
        )
        for line in p["lines"]:
            out.append(f"- {line['service']} in {line['region']}:")
            for i in line["incidents"]:
                if i["counted"]:
                    span = i["clipped"]
                    out.append(
                        f"    incident {i['incident_id']} ({i['severity']}, weight {i['weight']}) counted "
                        f"from {at(span['start'])} to {at(span['end'])}."
                    )
                else:
                    out.append(f"    incident {i['incident_id']} did not count: {i['reason_text']}.")
            for m in line["maintenance"]:
                window = f"{at(m['starts_at'])} to {at(m['ends_at'])}"
                announced = _announced(m["announced_at"], m["starts_at"])
                if m["qualified"]:
                    out.append(
                        f"    maintenance {m['maintenance_id']} ({window}) was {announced}, in time: "
                        "that time is not downtime."
                    )
                elif m["reason"] == "notice_too_short":
                    out.append(
                        f"    maintenance {m['maintenance_id']} ({window}) did not excuse downtime: {announced}, "
                        f"and the contract asks for {p['maintenance_notice_hours']} h notice."
                    )
                else:
                    out.append(
                        f"    maintenance {m['maintenance_id']} ({window}) did not excuse downtime: {m['reason_text']}."
                    )
            out.append(
                f"    Downtime {duration(line['downtime_seconds'])} of {duration(line['measured_seconds'])} measured: "
                f"uptime {line['uptime_percent']} %."
            )
            if line["tier"] is None:
                out.append("    That is not below any tier of the contract, so this line earns no credit.")
            else:
                out.append(f"    That is below a tier of the contract: credit {line['credit_percent']} % of the fee.")
            out.append(
                f"    The fee for the measured part of the month is {money(line['fee_minor'], cur)} "
                f"(of {money(line['monthly_fee_minor'], cur)} a month); the credit is "
                f"{money(line['credit_minor'], cur)}, rounded once, half up."
            )
        cap = p["cap"]
        out.append(f"Credit earned by the SLA for the month: {money(p['credit_minor'], cur)}.")
        if cap["cap_minor"] is None:
            out.append("The contract has no annual cap: all of it is granted.")
        else:
            out.append(
                f"Annual cap for the contract year from {p['contract_year_start']}: {money(cap['cap_minor'], cur)}; "
                f"{money(cap['remaining_before_minor'], cur)} remained before this month. "
                f"Credit granted (after the annual cap): {money(p['granted_minor'], cur)}; "
                f"lost to the annual cap: {money(p['capped_minor'], cur)}; "
                f"{money(cap['remaining_after_minor'], cur)} of the cap remains."
            )
    out.append("")
    out.append("Every customer with the same terms and the same incidents gets the same figures.")
    return "\n".join(out) + "\n"
