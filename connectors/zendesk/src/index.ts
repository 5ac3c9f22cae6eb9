// Junction's Zendesk Support connector: an invoice the support desk must act on becomes one
// ticket, found again by its `external_id` (the invoice id), so retries and duplicate events
// update that ticket instead of opening another.
//
// - create: POST /api/v2/tickets.json with `Idempotency-Key` (the write's key: a retry after a
//   lost answer gets the first ticket back), subject, an internal comment, priority, tags,
//   the requester when the invoice names the customer's e-mail, and the invoice as Junction
//   wrote it in a text custom field (setting `invoice-field`), which is what a read-back reads;
// - update: PUT /api/v2/tickets/{id}.json with the new status, priority and tags and an
//   internal comment saying what changed; nothing when the ticket already shows the invoice;
// - a paid or voided invoice solves its ticket;
// - 429 comes back as rate-limited with Retry-After; `X-Rate-Limit-Remaining` at 0 is logged.

import {
  defineConnector,
  errors,
  Http,
  log,
  requireSetting,
  setting,
  type Invoice,
  type Page,
  type Write,
} from "@junction/connector-kit";

/** A ticket as Zendesk renders it (the fields this connector reads). */
interface Ticket {
  id: number;
  external_id: string | null;
  status: string;
  priority: string | null;
  tags: string[];
  custom_fields?: Array<{ id: number; value: unknown }>;
}

const TICKET_STATUSES_SOLVED = ["solved", "closed"];

function http(): Http {
  return new Http();
}

function invoiceField(): number {
  const raw = requireSetting("invoice-field");
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw errors.rejected(`setting invoice-field \`${raw}\` is not a ticket field id`, "invoice-field");
  }
  return id;
}

/** The ticket's status for an invoice: paid or voided solves it. */
function ticketStatus(inv: Invoice): string {
  return inv.status === "paid" || inv.status === "void" ? "solved" : "open";
}

function priority(inv: Invoice): string {
  if (inv.status === "uncollectible") return "urgent";
  return setting("priority") ?? "high";
}

function tags(inv: Invoice): string[] {
  // Zendesk keeps tags lower case, without spaces.
  return ["junction", "billing", `invoice_${inv.status}`];
}

function money(minor: number | undefined, currency: string): string {
  return minor === undefined ? "an unknown amount" : `${(minor / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

function subject(inv: Invoice): string {
  return `Payment failed: invoice ${inv.id}`;
}

function comment(inv: Invoice, before: Invoice | null): string {
  const due = money(inv.amount_due ?? inv.total, inv.currency);
  if (inv.status === "paid") return `Invoice ${inv.id} is paid (${money(inv.amount_paid ?? inv.total, inv.currency)}). Solved by Junction.`;
  if (inv.status === "void") return `Invoice ${inv.id} was voided. Solved by Junction.`;
  if (before === null) return `The payment of invoice ${inv.id} (customer ${inv.customer_id}) failed: ${due} due.`;
  return `The payment of invoice ${inv.id} failed again: ${due} due (status ${inv.status}).`;
}

function storedInvoice(t: Ticket, field: number): Invoice | null {
  const v = t.custom_fields?.find((f) => f.id === field)?.value;
  if (typeof v !== "string" || v === "") return null;
  try {
    return JSON.parse(v) as Invoice;
  } catch {
    return null;
  }
}

function watchRateLimit(headers: Headers) {
  if (headers.get("x-rate-limit-remaining") === "0") {
    log.warn(`Zendesk's rate limit is used up for this minute (X-Rate-Limit: ${headers.get("x-rate-limit") ?? "?"})`);
  }
}

async function findTicket(key: string): Promise<Ticket | null> {
  // Tickets > List Tickets: `external_id` lists the tickets with that external id.
  const r = await http().get<{ tickets: Ticket[] }>("/api/v2/tickets.json", { query: { external_id: key } });
  watchRateLimit(r.headers);
  const tickets = r.body?.tickets ?? [];
  if (tickets.length > 1) log.warn(`${tickets.length} tickets carry external id ${key}; the oldest is used`);
  return tickets.sort((a, b) => a.id - b.id)[0] ?? null;
}

function same(a: Invoice | null, b: Invoice): boolean {
  return a !== null && JSON.stringify(a) === JSON.stringify(b);
}

async function apply(w: Write<"invoice">): Promise<{ applied: string }> {
  const field = invoiceField();
  const inv = w.document;
  if (inv.id !== w.key) throw errors.rejected(`the invoice's id ${inv.id} is not the write's key ${w.key}`, "id");
  const existing = await findTicket(w.key);
  const fields = [{ id: field, value: JSON.stringify(inv) }];
  if (existing === null) {
    if (w.operation === "delete" || inv.status === "paid" || inv.status === "void") {
      // Nothing failed that support must hear about: no ticket to open or solve.
      return { applied: "none" };
    }
    // The invoice's own e-mail (Stripe's `customer_email`), or one an integration put in its
    // metadata.
    const requester = inv.customer_email ?? inv.metadata?.["customer_email"];
    const r = await http().post<{ ticket: Ticket }>("/api/v2/tickets.json", {
      headers: { "idempotency-key": w.idempotencyKey },
      json: {
        ticket: {
          subject: subject(inv),
          comment: { body: comment(inv, null), public: false },
          external_id: w.key,
          status: ticketStatus(inv),
          priority: priority(inv),
          tags: tags(inv),
          custom_fields: fields,
          ...(requester ? { requester: { email: requester, name: requester } } : {}),
        },
      },
    });
    watchRateLimit(r.headers);
    const id = r.body?.ticket?.id;
    if (id === undefined) throw errors.transient("Zendesk created a ticket but its answer names none");
    return { applied: String(id) };
  }
  const before = storedInvoice(existing, field);
  if (same(before, inv) && existing.status === ticketStatus(inv)) {
    return { applied: String(existing.id) };
  }
  if (TICKET_STATUSES_SOLVED.includes(existing.status) && existing.status === "closed") {
    // Tickets > Update Ticket: a closed ticket cannot be updated.
    throw errors.rejected(`ticket ${existing.id} is closed and can no longer change`, "status");
  }
  const r = await http().put<{ ticket: Ticket }>(`/api/v2/tickets/${existing.id}.json`, {
    json: {
      ticket: {
        status: ticketStatus(inv),
        priority: priority(inv),
        tags: tags(inv),
        custom_fields: fields,
        comment: { body: comment(inv, before), public: false },
      },
    },
  });
  watchRateLimit(r.headers);
  return { applied: String(existing.id) };
}

async function fetchInvoice(key: string): Promise<Invoice | null> {
  const t = await findTicket(key);
  return t === null ? null : storedInvoice(t, invoiceField());
}

async function list(cursor: string | undefined, limit: number): Promise<Page<"invoice">> {
  const field = invoiceField();
  // Pagination > Using cursor pagination: page[size] (at most 100) and page[after].
  const r = await http().get<{ tickets: Ticket[]; meta: { has_more: boolean; after_cursor: string | null } }>(
    "/api/v2/tickets.json",
    { query: { "page[size]": Math.max(1, Math.min(limit, 100)), "page[after]": cursor } },
  );
  watchRateLimit(r.headers);
  const items = (r.body?.tickets ?? []).flatMap((t) => {
    const inv = storedInvoice(t, field);
    return inv === null || t.external_id === null ? [] : [{ key: t.external_id, document: inv }];
  });
  const meta = r.body?.meta;
  return { items, nextCursor: meta?.has_more && meta.after_cursor ? meta.after_cursor : undefined };
}

export const { describe, source, sink } = defineConnector({
  info: {
    name: "zendesk",
    version: "0.1.0",
    description: "Zendesk Support tickets: one ticket per invoice that needs support, by external id",
    hosts: [],
    settings: [
      { name: "base-url", description: "https://SUBDOMAIN.zendesk.com", required: true },
      {
        name: "invoice-field",
        description: "id of a text custom ticket field where Junction keeps the invoice it wrote (read-back)",
        required: true,
      },
      { name: "priority", description: "priority of new tickets (default high)" },
    ],
  },
  sinks: {
    invoice: {
      apply,
      fetch: fetchInvoice,
      list,
    },
  },
});
