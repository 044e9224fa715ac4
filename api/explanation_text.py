"""The explanation in words an account manager can read out to a customer."""

from __future__ import annotations

from typing import Any


def _money(minor: int | None, currency: str) -> str:
    return "no cap" if minor is None else f"{minor} {currency} minor units"


def explanation_text(doc: dict[str, Any]) -> str:
    out = [f"Service credit for {doc['customer_id']}, {doc['month']}"]
    if not doc["periods"]:
        out.append("No contract of this customer was active in this month, so there is no credit.")
    for p in doc["periods"]:
        cur = p["currency"]
        out.append("")
        out.append(f"Contract {p['contract_id']} ({p['timezone']}), status {p['status']}.")
        out.append(
            f"The month is measured in the contract's time zone from {p['measured_window']['start']} "
            f"to {p['measured_window']['end']}."
        )
        for line in p["lines"]:
            out.append(f"- {line['service']} in {line['region']}:")
            for i in line["incidents"]:
                if i["counted"]:
                    span = i["clipped"]
                    out.append(
                        f"    incident {i['incident_id']} ({i['severity']}, weight {i['weight']}) counted "
                        f"from {span['start']} to {span['end']}."
                    )
                else:
                    out.append(f"    incident {i['incident_id']} did not count: {i['reason_text']}.")
            for m in line["maintenance"]:
                if m["qualified"]:
                    out.append(
                        f"    maintenance {m['maintenance_id']} ({m['starts_at']} to {m['ends_at']}, announced "
                        f"{m['announced_at']}) was announced in time: that time is not downtime."
                    )
                else:
                    out.append(f"    maintenance {m['maintenance_id']} did not excuse downtime: {m['reason_text']}.")
            out.append(
                f"    Downtime {line['downtime_seconds']} s of {line['measured_seconds']} s measured: uptime "
                f"{line['uptime_percent']} %."
            )
            if line["tier"] is None:
                out.append("    That is not below any tier of the contract, so this line earns no credit.")
            else:
                out.append(f"    That is below a tier of the contract: credit {line['credit_percent']} % of the fee.")
            out.append(
                f"    The fee for the measured part of the month is {line['fee_minor']} "
                f"(of {line['monthly_fee_minor']} a month); the credit is {line['credit_minor']} {cur} "
                "minor units, rounded once, half up."
            )
        cap = p["cap"]
        out.append(f"Credit for the month: {p['credit_minor']} {cur} minor units.")
        if cap["cap_minor"] is None:
            out.append("The contract has no annual cap: all of it is granted.")
        else:
            out.append(
                f"Annual cap for the contract year from {p['contract_year_start']}: {_money(cap['cap_minor'], cur)}; "
                f"{cap['remaining_before_minor']} remained before this month, {p['granted_minor']} is granted, "
                f"{p['capped_minor']} is over the cap, {cap['remaining_after_minor']} remains."
            )
    out.append("")
    out.append("Every customer with the same terms and the same incidents gets the same figures.")
    return "\n".join(out) + "\n"
