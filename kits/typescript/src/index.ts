// Junction's connector kit for TypeScript.
//
// A connector implements `Connector` (below): what it is (`info`), the canonical objects it
// writes (`sinks`, one typed handler per object) and, optionally, the source side. Its entry
// point, src/index.ts, ends with
//
//     export const { describe, source, sink } = defineConnector(myConnector);
//
// and `node kits/typescript/build.mjs DIR` (or `junction connector build DIR`) type-checks it
// against the WIT contract and the canonical JSON Schemas, bundles it with this kit and turns
// it into a WebAssembly component that Junction's host loads like any other.
//
// Everything here runs inside the sandbox: `fetch` goes over wasi:http through the host's
// allow-list (which adds the credentials), secrets never enter the module (HMAC is computed
// by the host), and errors travel as the contract's typed variants.

import * as host from "junction:connector/host@0.2.0";
import type * as wit from "junction:connector/types@0.2.0";
import type { Documents, ObjectKind } from "../generated/schemas.js";

export type * from "../generated/schemas.js";
export { OBJECT_KINDS } from "../generated/schemas.js";
export type { Documents, ObjectKind };

// ---------------------------------------------------------------------------------------------
// Errors: one class per variant of the contract's `error`, each with the retry class the
// runtime applies to it. The runtime decides from the variant, never from the message.

/** What the runtime does with an error of each class. */
export type RetryClass =
  /** Tried again with exponential back-off. */
  | "retry"
  /** Tried again after the vendor's Retry-After (or back-off). */
  | "rate-limited"
  /** Will fail again: dead-lettered with the message. */
  | "dead-letter"
  /** Credentials are wrong: the connector instance is paused. */
  | "pause"
  /** Never retried (a contract breach, an unsupported call, a refused webhook). */
  | "never";

/** An error the connector reports to Junction. Throw it from any handler. */
export class ConnectorError extends Error {
  /** The contract's error value, as the host receives it. */
  readonly payload: wit.Error;

  constructor(payload: wit.Error, message: string) {
    super(message);
    this.name = "ConnectorError";
    this.payload = payload;
  }

  /** What the runtime does with it. */
  get retryClass(): RetryClass {
    switch (this.payload.tag) {
      case "transient":
      case "conflict":
        return "retry";
      case "rate-limited":
        return "rate-limited";
      case "rejected":
      case "not-found":
        return "dead-letter";
      case "unauthorized":
        return "pause";
      default:
        return "never";
    }
  }
}

const ms = (n: number | undefined): bigint | undefined =>
  n === undefined || !Number.isFinite(n) || n < 0 ? undefined : BigInt(Math.round(n));

/** Constructors for every error the contract knows. */
export const errors = {
  /** Network trouble, timeouts, 5xx: retried with back-off. */
  transient: (message: string, retryAfterMs?: number) =>
    new ConnectorError({ tag: "transient", val: { message, retryAfterMs: ms(retryAfterMs) } }, message),
  /** The vendor is throttling: retried after `retryAfterMs`. */
  rateLimited: (retryAfterMs?: number) =>
    new ConnectorError({ tag: "rate-limited", val: ms(retryAfterMs) }, `rate limited (retry after ${retryAfterMs ?? "?"} ms)`),
  /** Refused on its merits (validation): dead-lettered. */
  rejected: (message: string, field?: string) =>
    new ConnectorError({ tag: "rejected", val: { message, field } }, message),
  /** Credentials missing, wrong or expired: the instance is paused. */
  unauthorized: (message: string) => new ConnectorError({ tag: "unauthorized", val: message }, message),
  /** The entity does not exist at the vendor. */
  notFound: (message: string) => new ConnectorError({ tag: "not-found", val: message }, message),
  /** Another write holds the record: retried. */
  conflict: (message: string) => new ConnectorError({ tag: "conflict", val: message }, message),
  /** The idempotency key was used for a different request: never retried. */
  idempotencyMismatch: (message: string) =>
    new ConnectorError({ tag: "idempotency-mismatch", val: message }, message),
  /** This connector does not do that. */
  unsupported: (message: string) => new ConnectorError({ tag: "unsupported", val: message }, message),
  /** A webhook whose signature, timestamp or shape is not acceptable. */
  invalidWebhook: (message: string) => new ConnectorError({ tag: "invalid-webhook", val: message }, message),
};

// ---------------------------------------------------------------------------------------------
// Host services.

/** Log lines; the host masks personal data and secrets, and tags them with the correlation id. */
export const log = {
  trace: (m: string) => host.log("trace", m),
  debug: (m: string) => host.log("debug", m),
  info: (m: string) => host.log("info", m),
  warn: (m: string) => host.log("warn", m),
  error: (m: string) => host.log("error", m),
};

/** The host's clock (injectable in Junction's tests): never `Date.now()` for business time. */
export function now(): Date {
  return new Date(Number(host.now()));
}

/** A value from the pipeline's `[connectors.NAME.settings]` (and `base-url`), or undefined. */
export function setting(name: string): string | undefined {
  return host.setting(name) ?? undefined;
}

/** A setting the connector cannot work without: `rejected` naming it when it is missing. */
export function requireSetting(name: string): string {
  const v = setting(name);
  if (v === undefined || v === "") {
    throw errors.rejected(`the pipeline sets no \`${name}\` for this connector`, name);
  }
  return v;
}

/**
 * HMAC-SHA256 of `data` keyed by the secret the pipeline grants under `secret`
 * (`secrets = { webhook = "env:..." }`). The secret stays in the host.
 */
export function hmacSha256(secret: string, data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    return host.hmacSha256(secret, bytes);
  } catch (e) {
    const why = (e as { payload?: unknown }).payload ?? e;
    throw errors.invalidWebhook(`the host cannot sign with secret \`${secret}\`: ${String(why)}`);
  }
}

/** Lower-case hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two strings in time independent of where they differ (signatures). */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

// ---------------------------------------------------------------------------------------------
// HTTP over wasi:http, with the vendor's answers classified into the contract's errors.

/** The wait a response asks for, in milliseconds: `Retry-After` seconds or an HTTP date. */
export function retryAfterMs(headers: Headers, clock: () => Date = now): number | undefined {
  const v = headers.get("retry-after");
  if (v === null) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - clock().getTime());
}

/**
 * The contract's error for a vendor's non-2xx answer: 429 rate-limited (Retry-After), 5xx and
 * 408 transient, 401/403 unauthorized, 404 not-found, 409 conflict, other 4xx rejected.
 */
export function classify(status: number, headers: Headers, body: string): ConnectorError {
  const text = body.length > 500 ? `${body.slice(0, 500)}...` : body;
  if (status === 429) return errors.rateLimited(retryAfterMs(headers));
  if (status >= 500 || status === 408) return errors.transient(`HTTP ${status}: ${text}`, retryAfterMs(headers));
  if (status === 401 || status === 403) return errors.unauthorized(`HTTP ${status}: ${text}`);
  if (status === 404) return errors.notFound(`HTTP ${status}: ${text}`);
  if (status === 409) return errors.conflict(`HTTP ${status}: ${text}`);
  return errors.rejected(`HTTP ${status}: ${text}`);
}

/** A request for {@link Http.request}. */
export interface RequestInit {
  /** Query parameters, appended in order (undefined values are left out). */
  query?: Record<string, string | number | undefined>;
  /** A body sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** More headers. The host adds `Authorization`; a module cannot. */
  headers?: Record<string, string>;
  /** Statuses that are answers, not errors (404 for a lookup). */
  accept?: number[];
}

/** A vendor's answer. */
export interface HttpResponse<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when there was none. */
  body: T | undefined;
}

/** JSON over `fetch` against the connector's `base-url`. */
export class Http {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;

  /** `baseUrl` defaults to the `base-url` setting the pipeline passes. */
  constructor(options: { baseUrl?: string; headers?: Record<string, string> } = {}) {
    this.baseUrl = (options.baseUrl ?? requireSetting("base-url")).replace(/\/+$/, "");
    this.headers = { accept: "application/json", ...options.headers };
  }

  /** Sends one request; non-2xx answers (outside `accept`) throw the classified error. */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<HttpResponse<T>> {
    let url = `${this.baseUrl}${path}`;
    const params = Object.entries(init.query ?? {}).filter(([, v]) => v !== undefined);
    if (params.length > 0) {
      url += (url.includes("?") ? "&" : "?") +
        params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&");
    }
    const headers: Record<string, string> = { ...this.headers, ...init.headers };
    let body: string | undefined;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (e) {
      // A denied host also lands here: the host logs the rule that denied it.
      throw errors.transient(`${method} ${path}: ${String(e)}`);
    }
    const text = await response.text();
    if (!response.ok && !(init.accept ?? []).includes(response.status)) {
      throw classify(response.status, response.headers, text);
    }
    let parsed: T | undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text) as T;
      } catch {
        throw errors.transient(`${method} ${path}: HTTP ${response.status} with a body that is not JSON`);
      }
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  get<T>(path: string, init?: RequestInit) {
    return this.request<T>("GET", path, init);
  }
  post<T>(path: string, init?: RequestInit) {
    return this.request<T>("POST", path, init);
  }
  put<T>(path: string, init?: RequestInit) {
    return this.request<T>("PUT", path, init);
  }
  delete<T>(path: string, init?: RequestInit) {
    return this.request<T>("DELETE", path, init);
  }
}

// ---------------------------------------------------------------------------------------------
// The connector interface.

/** A setting the connector reads. */
export interface SettingSpec {
  name: string;
  description: string;
  required?: boolean;
  sensitive?: boolean;
}

/** What the connector is; `describe` is built from it and the handlers given. */
export interface ConnectorInfo {
  name: string;
  version: string;
  description: string;
  /** Hosts it calls by default (the pipeline's allow-list may narrow them). */
  hosts?: string[];
  settings?: SettingSpec[];
  /** Secrets it asks the host to sign with. */
  secrets?: string[];
  /** Whether `apply` may answer `accepted`. */
  asyncWrites?: boolean;
  /** Whether the target takes writes effective in the future. */
  futureDatedWrites?: boolean;
}

export type Operation = wit.Operation;

/** A write of one canonical document of kind `K`. */
export interface Write<K extends ObjectKind> {
  object: K;
  key: string;
  operation: Operation;
  document: Documents[K];
  effectiveAt?: Date;
  occurredAt: Date;
  /** Send it to the vendor's idempotency mechanism. */
  idempotencyKey: string;
  correlationId: string;
}

/** What `apply` did: applied (the target's id), accepted (a job), or one step of several. */
export type Outcome = { applied: string } | { accepted: string } | { inProgress: string };

/** One page of `list`. */
export interface Page<K extends ObjectKind> {
  items: Array<{ key: string; document: Documents[K] }>;
  nextCursor?: string;
}

type Awaitable<T> = T | Promise<T>;

/** The sink side for one canonical object kind. */
export interface Sink<K extends ObjectKind> {
  /** Makes the document true at the vendor, under the write's idempotency key. */
  apply(write: Write<K>): Awaitable<Outcome>;
  /** Reads the entity by its key, or null. */
  fetch(key: string): Awaitable<Documents[K] | null>;
  /** The document `fetch` returns once the write took effect (no I/O). Default: the write's. */
  expected?(write: Write<K>): Documents[K];
  /** Lists entities for reconciliation. Default: unsupported. */
  list?(cursor: string | undefined, limit: number): Awaitable<Page<K>>;
}

/** A change read from the source side, with a typed document. */
export type Change = {
  [K in ObjectKind]: {
    sourceEventId: string;
    object: K;
    key: string;
    operation: Operation;
    before?: Documents[K];
    after?: Documents[K];
    occurredAt: Date;
    effectiveAt?: Date;
    sourceVersion: number | bigint;
    metadata?: Record<string, string>;
  };
}[ObjectKind];

/** The source side. */
export interface Source {
  /** The canonical objects it emits. */
  objects: ObjectKind[];
  /** Verifies and decodes a webhook (omit when the vendor sends none). */
  receive?(hook: wit.Webhook): Awaitable<Change[]>;
  /** Reads changes after `cursor` (omit when it cannot poll). */
  poll?(object: ObjectKind, cursor: string | undefined, limit: number): Awaitable<{
    changes: Change[];
    nextCursor?: string;
    hasMore: boolean;
  }>;
}

/** Everything a connector is. */
export interface Connector {
  info: ConnectorInfo;
  sinks?: { [K in ObjectKind]?: Sink<K> };
  source?: Source;
  /** The state of a job `apply` answered `accepted` for. */
  jobStatus?(job: string): Awaitable<{ pending: true } | { succeeded: string } | { failed: ConnectorError }>;
}

// ---------------------------------------------------------------------------------------------
// The bridge between `Connector` and the component's exports.

const toMs = (d: Date | undefined): bigint | undefined => (d === undefined ? undefined : BigInt(d.getTime()));
const fromMs = (t: bigint | undefined): Date | undefined => (t === undefined ? undefined : new Date(Number(t)));

/** Runs a handler; a ConnectorError becomes the contract's error, anything else traps. */
async function guard<T>(what: string, f: () => Awaitable<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof ConnectorError) throw e;
    // A bug in the connector: log it (the host masks it), then trap like a Rust panic, so the
    // runtime retries or dead-letters the work and never mistakes it for a vendor answer.
    const message = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
    host.log("error", `${what} failed with an exception the connector did not classify: ${message}`);
    throw e instanceof Error ? e : new Error(message);
  }
}

function parseDocument<K extends ObjectKind>(object: K, text: string): Documents[K] {
  try {
    return JSON.parse(text) as Documents[K];
  } catch {
    throw errors.rejected(`the ${object} document is not JSON`);
  }
}

function changeOut(c: Change): wit.Change {
  return {
    sourceEventId: c.sourceEventId,
    object: c.object,
    key: c.key,
    operation: c.operation,
    before: c.before === undefined ? undefined : JSON.stringify(c.before),
    after: c.after === undefined ? undefined : JSON.stringify(c.after),
    occurredAt: BigInt(c.occurredAt.getTime()),
    effectiveAt: toMs(c.effectiveAt),
    sourceVersion: BigInt(c.sourceVersion),
    metadata: Object.entries(c.metadata ?? {}),
  };
}

function outcomeOut(o: Outcome): wit.Outcome {
  if ("applied" in o) return { tag: "applied", val: o.applied };
  if ("accepted" in o) return { tag: "accepted", val: o.accepted };
  return { tag: "in-progress", val: o.inProgress };
}

/** The component's exports for `connector`: `export const { describe, source, sink } = ...`. */
export function defineConnector(connector: Connector) {
  const sinks = (connector.sinks ?? {}) as { [K in ObjectKind]?: Sink<K> };
  const sinkOf = (object: string): Sink<ObjectKind> => {
    const s = (sinks as Record<string, Sink<ObjectKind> | undefined>)[object];
    if (!s) throw errors.unsupported(`${connector.info.name} writes no ${object}`);
    return s;
  };
  const writeIn = (w: wit.Write): Write<ObjectKind> => ({
    object: w.object as ObjectKind,
    key: w.key,
    operation: w.operation,
    document: parseDocument(w.object as ObjectKind, w.document),
    effectiveAt: fromMs(w.effectiveAt),
    occurredAt: new Date(Number(w.occurredAt)),
    idempotencyKey: w.idempotencyKey,
    correlationId: w.correlationId,
  });
  const src = connector.source;

  const describe = (): wit.Manifest => ({
    name: connector.info.name,
    version: connector.info.version,
    description: connector.info.description,
    sourceObjects: [...(src?.objects ?? [])],
    sinkObjects: Object.keys(sinks).filter((k) => (sinks as Record<string, unknown>)[k] !== undefined),
    hosts: connector.info.hosts ?? [],
    settings: (connector.info.settings ?? []).map((s) => ({
      name: s.name,
      description: s.description,
      required: s.required ?? false,
      sensitive: s.sensitive ?? false,
    })),
    secrets: connector.info.secrets ?? [],
    webhooks: src?.receive !== undefined,
    polling: src?.poll !== undefined,
    asyncWrites: connector.info.asyncWrites ?? false,
    futureDatedWrites: connector.info.futureDatedWrites ?? false,
  });

  const source = {
    receive: (hook: wit.Webhook) =>
      guard("receive", async () => {
        if (!src?.receive) throw errors.unsupported(`${connector.info.name} takes no webhooks`);
        return (await src.receive(hook)).map(changeOut);
      }),
    poll: (object: string, cursor: string | undefined, limit: number) =>
      guard("poll", async (): Promise<wit.ChangePage> => {
        if (!src?.poll) throw errors.unsupported(`${connector.info.name} does not poll`);
        if (!src.objects.includes(object as ObjectKind)) throw errors.unsupported(`${connector.info.name} emits no ${object}`);
        const page = await src.poll(object as ObjectKind, cursor ?? undefined, limit);
        return { changes: page.changes.map(changeOut), nextCursor: page.nextCursor, hasMore: page.hasMore };
      }),
  };

  const sink = {
    apply: (w: wit.Write) => guard("apply", async () => outcomeOut(await sinkOf(w.object).apply(writeIn(w)))),
    jobStatus: (job: string) =>
      guard("job-status", async (): Promise<wit.JobState> => {
        if (!connector.jobStatus) throw errors.unsupported(`${connector.info.name} has no asynchronous jobs`);
        const s = await connector.jobStatus(job);
        if ("pending" in s) return { tag: "pending" };
        if ("succeeded" in s) return { tag: "succeeded", val: s.succeeded };
        return { tag: "failed", val: s.failed.payload };
      }),
    fetch: (object: string, key: string) =>
      guard("fetch", async () => {
        const doc = await sinkOf(object).fetch(key);
        return doc === null ? undefined : JSON.stringify(doc);
      }),
    expected: (w: wit.Write) =>
      guard("expected", () => {
        const s = sinkOf(w.object);
        const write = writeIn(w);
        return JSON.stringify(s.expected ? s.expected(write) : write.document);
      }),
    list: (object: string, cursor: string | undefined, limit: number) =>
      guard("list", async (): Promise<wit.DocumentPage> => {
        const s = sinkOf(object);
        if (!s.list) throw errors.unsupported(`${connector.info.name} cannot list ${object}`);
        const page = await s.list(cursor ?? undefined, limit);
        return {
          items: page.items.map((i) => ({ key: i.key, document: JSON.stringify(i.document) })),
          nextCursor: page.nextCursor,
        };
      }),
  };

  return { describe, source, sink };
}
