"""JSON over wasi:http against the connector's `base-url`, with the vendor's answers classified
into the contract's errors. Every request passes the host's allow-list, which also adds the
credentials: a connector never sets `Authorization` itself.

Calls block the (single-threaded) guest until the answer is complete, which is what a sync
export wants; the host's per-call deadline still applies."""

import json as _json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional
from urllib.parse import quote, urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler
from wit_world.imports import wasi_http_types as t
from wit_world.imports.streams import StreamError_Closed

from . import errors
from .host import now_ms, require_setting

_METHODS = {
    "GET": t.Method_Get(),
    "POST": t.Method_Post(),
    "PUT": t.Method_Put(),
    "DELETE": t.Method_Delete(),
    "PATCH": t.Method_Patch(),
}


@dataclass
class Response:
    status: int
    headers: Dict[str, str]
    body: Any = None
    text: str = ""


def retry_after_ms(headers: Dict[str, str]) -> Optional[float]:
    """`Retry-After` in milliseconds (seconds or an HTTP date)."""
    v = headers.get("retry-after")
    if v is None:
        return None
    v = v.strip()
    if v.isdigit():
        return int(v) * 1000.0
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(v).timestamp() * 1000 - now_ms())
    except (TypeError, ValueError):
        return None


def classify(status: int, headers: Dict[str, str], body: str) -> errors.ConnectorError:
    """429 rate-limited, 5xx and 408 transient, 401/403 unauthorized, 404 not-found,
    409 conflict, other 4xx rejected."""
    text = body if len(body) <= 500 else body[:500] + "..."
    if status == 429:
        return errors.rate_limited(retry_after_ms(headers))
    if status >= 500 or status == 408:
        return errors.transient(f"HTTP {status}: {text}", retry_after_ms(headers))
    if status in (401, 403):
        return errors.unauthorized(f"HTTP {status}: {text}")
    if status == 404:
        return errors.not_found(f"HTTP {status}: {text}")
    if status == 409:
        return errors.conflict(f"HTTP {status}: {text}")
    return errors.rejected(f"HTTP {status}: {text}")


def _wait(future: t.FutureIncomingResponse) -> t.IncomingResponse:
    while True:
        got = future.get()
        if got is None:
            future.subscribe().block()
            continue
        if isinstance(got, Err):
            raise errors.transient("the response was already taken")
        inner = got.value
        if isinstance(inner, Ok):
            return inner.value
        raise errors.transient(f"HTTP request failed: {inner.value!r}")


def _read_all(response: t.IncomingResponse, limit: int = 16 << 20) -> bytes:
    body = response.consume()
    stream = body.stream()
    chunks = []
    size = 0
    while True:
        try:
            chunk = stream.blocking_read(64 * 1024)
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                break
            raise errors.transient(f"reading the response failed: {e.value!r}")
        size += len(chunk)
        if size > limit:
            raise errors.transient(f"the response is larger than {limit} bytes")
        chunks.append(chunk)
    stream.__exit__(None, None, None)
    t.IncomingBody.finish(body)
    return b"".join(chunks)


class Http:
    """`Http().get("/api/v2/tickets.json", query={...})`; non-2xx answers raise the classified
    error unless their status is in `accept`."""

    def __init__(self, base_url: Optional[str] = None, headers: Optional[Dict[str, str]] = None):
        self.base_url = (base_url or require_setting("base-url")).rstrip("/")
        self.headers = {"accept": "application/json", **(headers or {})}

    def request(
        self,
        method: str,
        path: str,
        query: Optional[Dict[str, Any]] = None,
        json: Any = None,
        headers: Optional[Dict[str, str]] = None,
        accept: Iterable[int] = (),
    ) -> Response:
        url = urlsplit(self.base_url + path)
        target = url.path or "/"
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        qs = "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in params)
        if url.query:
            qs = url.query + ("&" + qs if qs else "")
        if qs:
            target += "?" + qs
        all_headers = {**self.headers, **(headers or {})}
        body = None
        if json is not None:
            body = _json.dumps(json, separators=(",", ":")).encode()
            all_headers["content-type"] = "application/json"
        fields = t.Fields.from_list([(k.lower(), v.encode()) for k, v in all_headers.items()])
        request = t.OutgoingRequest(fields)
        request.set_method(_METHODS.get(method.upper(), t.Method_Other(method.upper())))
        request.set_scheme(t.Scheme_Https() if url.scheme == "https" else t.Scheme_Http())
        request.set_authority(url.netloc)
        request.set_path_with_query(target)
        outgoing = request.body()
        try:
            future = outgoing_handler.handle(request, None)
        except Err as e:
            # A host the pipeline does not allow lands here too: the host logs the rule.
            raise errors.transient(f"{method} {path}: {e.value!r}")
        stream = outgoing.write()
        if body:
            for i in range(0, len(body), 4096):
                stream.blocking_write_and_flush(body[i : i + 4096])
        stream.__exit__(None, None, None)
        t.OutgoingBody.finish(outgoing, None)
        response = _wait(future)
        status = response.status()
        hdrs: Dict[str, str] = {}
        for k, v in response.headers().entries():
            hdrs[k.lower()] = v.decode(errors="replace")
        text = _read_all(response).decode(errors="replace")
        if not (200 <= status < 300) and status not in accept:
            raise classify(status, hdrs, text)
        parsed = None
        if text:
            try:
                parsed = _json.loads(text)
            except ValueError:
                raise errors.transient(f"{method} {path}: HTTP {status} with a body that is not JSON")
        return Response(status, hdrs, parsed, text)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)
