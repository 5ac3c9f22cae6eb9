"""The Zendesk connector of connectors/zendesk (TypeScript), written again in Python with
kits/python, for the parity check (parity/README.md): the same tickets, the same requests, the
same conformance run."""

import json
from typing import Any, Dict, List, Optional

from junction_kit import (
    Applied, Connector, Http, Info, Page, Setting, SinkFor, Write, define_connector, errors, log,
    require_setting, setting,
)
from junction_kit.schemas import Invoice


def invoice_field() -> int:
    raw = require_setting("invoice-field")
    if not raw.isdigit() or int(raw) <= 0:
        raise errors.rejected(f"setting invoice-field `{raw}` is not a ticket field id", "invoice-field")
    return int(raw)


def ticket_status(inv: Invoice) -> str:
    return "solved" if inv["status"] in ("paid", "void") else "open"


def priority(inv: Invoice) -> str:
    return "urgent" if inv["status"] == "uncollectible" else (setting("priority") or "high")


def tags(inv: Invoice) -> List[str]:
    return ["junction", "billing", f"invoice_{inv['status']}"]


def money(minor: Optional[int], currency: str) -> str:
    return "an unknown amount" if minor is None else f"{minor / 100:.2f} {currency.upper()}"


def comment(inv: Invoice, before: Optional[Invoice]) -> str:
    due = money(inv.get("amount_due", inv["total"]), inv["currency"])
    if inv["status"] == "paid":
        return f"Invoice {inv['id']} is paid ({money(inv.get('amount_paid', inv['total']), inv['currency'])}). Solved by Junction."
    if inv["status"] == "void":
        return f"Invoice {inv['id']} was voided. Solved by Junction."
    if before is None:
        return f"The payment of invoice {inv['id']} (customer {inv['customer_id']}) failed: {due} due."
    return f"The payment of invoice {inv['id']} failed again: {due} due (status {inv['status']})."


def stored(ticket: Dict[str, Any], field: int) -> Optional[Invoice]:
    for f in ticket.get("custom_fields") or []:
        if f.get("id") == field and isinstance(f.get("value"), str) and f["value"]:
            try:
                return json.loads(f["value"])
            except ValueError:
                return None
    return None


def watch(headers: Dict[str, str]) -> None:
    if headers.get("x-rate-limit-remaining") == "0":
        log.warn(f"Zendesk's rate limit is used up for this minute (X-Rate-Limit: {headers.get('x-rate-limit', '?')})")


def find(key: str) -> Optional[Dict[str, Any]]:
    r = Http().get("/api/v2/tickets.json", query={"external_id": key})
    watch(r.headers)
    tickets = sorted((r.body or {}).get("tickets", []), key=lambda t: t["id"])
    return tickets[0] if tickets else None


def dumps(doc: Any) -> str:
    # The same text JSON.stringify writes, so both connectors store identical documents.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def apply(w: Write) -> Applied:
    field = invoice_field()
    inv: Invoice = w.document  # type: ignore[assignment]
    if inv.get("id") != w.key:
        raise errors.rejected(f"the invoice's id {inv.get('id')} is not the write's key {w.key}", "id")
    existing = find(w.key)
    fields = [{"id": field, "value": dumps(inv)}]
    if existing is None:
        if w.operation == "delete" or inv["status"] in ("paid", "void"):
            return Applied("none")
        ticket: Dict[str, Any] = {
            "subject": f"Payment failed: invoice {inv['id']}",
            "comment": {"body": comment(inv, None), "public": False},
            "external_id": w.key,
            "status": ticket_status(inv),
            "priority": priority(inv),
            "tags": tags(inv),
            "custom_fields": fields,
        }
        email = inv.get("customer_email") or (inv.get("metadata") or {}).get("customer_email")
        if email:
            ticket["requester"] = {"email": email, "name": email}
        r = Http().post("/api/v2/tickets.json", headers={"idempotency-key": w.idempotency_key}, json={"ticket": ticket})
        watch(r.headers)
        tid = ((r.body or {}).get("ticket") or {}).get("id")
        if tid is None:
            raise errors.transient("Zendesk created a ticket but its answer names none")
        return Applied(str(tid))
    before = stored(existing, field)
    if before == inv and existing["status"] == ticket_status(inv):
        return Applied(str(existing["id"]))
    if existing["status"] == "closed":
        raise errors.rejected(f"ticket {existing['id']} is closed and can no longer change", "status")
    r = Http().put(f"/api/v2/tickets/{existing['id']}.json", json={"ticket": {
        "status": ticket_status(inv), "priority": priority(inv), "tags": tags(inv), "custom_fields": fields,
        "comment": {"body": comment(inv, before), "public": False},
    }})
    watch(r.headers)
    return Applied(str(existing["id"]))


def fetch(key: str) -> Optional[Invoice]:
    t = find(key)
    return None if t is None else stored(t, invoice_field())


def list_invoices(cursor: Optional[str], limit: int) -> Page:
    field = invoice_field()
    r = Http().get("/api/v2/tickets.json", query={"page[size]": max(1, min(limit, 100)), "page[after]": cursor})
    watch(r.headers)
    body = r.body or {}
    items = []
    for t in body.get("tickets", []):
        inv = stored(t, field)
        if inv is not None and t.get("external_id") is not None:
            items.append((t["external_id"], inv))
    meta = body.get("meta") or {}
    return Page(items, meta.get("after_cursor") if meta.get("has_more") else None)


WitWorld, Source, Sink = define_connector(Connector(
    info=Info(
        name="zendesk",
        version="0.1.0",
        description="Zendesk Support tickets: one ticket per invoice that needs support, by external id",
        settings=[
            Setting("base-url", "https://SUBDOMAIN.zendesk.com", required=True),
            Setting("invoice-field", "id of a text custom ticket field where Junction keeps the invoice it wrote (read-back)", required=True),
            Setting("priority", "priority of new tickets (default high)"),
        ],
    ),
    sinks={"invoice": SinkFor(apply=apply, fetch=fetch, list=list_invoices)},
))
