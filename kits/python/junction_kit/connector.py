"""The connector interface and the bridge to the component's exports.

A connector subclasses nothing: it builds a `Connector` from its `info` and one `SinkFor`
per canonical object it writes, and its `app.py` ends with

    WitWorld, Source, Sink = define_connector(connector)

which are the three classes componentize-py looks for in the app module."""

import json
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

from componentize_py_types import Err
from wit_world.imports import host as _host
from wit_world.imports import junction_connector_types as t

from . import errors


@dataclass
class Setting:
    name: str
    description: str
    required: bool = False
    sensitive: bool = False


@dataclass
class Info:
    name: str
    version: str
    description: str
    hosts: List[str] = field(default_factory=list)
    settings: List[Setting] = field(default_factory=list)
    secrets: List[str] = field(default_factory=list)
    async_writes: bool = False
    future_dated_writes: bool = False


@dataclass
class Write:
    """A write of one canonical document (a dict shaped by its schema, see `schemas`)."""

    object: str
    key: str
    operation: str
    document: Dict[str, Any]
    effective_at: Optional[datetime]
    occurred_at: datetime
    idempotency_key: str
    correlation_id: str


@dataclass
class Applied:
    target_id: str


@dataclass
class Accepted:
    job: str


@dataclass
class InProgress:
    job: str


@dataclass
class Page:
    items: List[tuple]  # (key, document)
    next_cursor: Optional[str] = None


@dataclass
class SinkFor:
    """The sink side for one object: apply and fetch, optionally expected and list."""

    apply: Callable[[Write], Any]
    fetch: Callable[[str], Optional[Dict[str, Any]]]
    expected: Optional[Callable[[Write], Dict[str, Any]]] = None
    list: Optional[Callable[[Optional[str], int], Page]] = None


@dataclass
class Change:
    """A change read from the source side; documents are dicts shaped by their schemas."""

    source_event_id: str
    object: str
    key: str
    operation: str  # create, update, delete or snapshot
    after: Optional[Dict[str, Any]]
    occurred_at: datetime
    before: Optional[Dict[str, Any]] = None
    effective_at: Optional[datetime] = None
    source_version: int = 0
    metadata: Dict[str, str] = field(default_factory=dict)


@dataclass
class ChangePage:
    changes: List[Change]
    next_cursor: Optional[str] = None
    has_more: bool = False


@dataclass
class Connector:
    info: Info
    sinks: Dict[str, SinkFor] = field(default_factory=dict)
    #: The canonical objects the source side emits.
    source_objects: List[str] = field(default_factory=list)
    #: Verifies and decodes a webhook (`t.Webhook`) into a list of `Change`.
    receive: Optional[Callable[[Any], List[Change]]] = None
    #: Reads changes: (object, cursor, limit) -> ChangePage.
    poll: Optional[Callable[[str, Optional[str], int], ChangePage]] = None


def _dt(ms: Optional[int]) -> Optional[datetime]:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _guard(what: str, f: Callable[[], Any]) -> Any:
    try:
        return f()
    except errors.ConnectorError as e:
        # componentize-py takes exactly `Err` (not a subclass) as a result's error.
        raise Err(e.value) from None
    except Exception:
        # A bug in the connector: logged (the host masks it), then the call traps like a Rust
        # panic, so the runtime retries or dead-letters instead of trusting an answer.
        _host.log(_host.Level.ERROR, f"{what} raised an exception the connector did not classify:\n{traceback.format_exc()}")
        raise


def define_connector(c: Connector):
    """The `WitWorld`, `Source` and `Sink` classes of the component's exports."""

    def sink_of(obj: str) -> SinkFor:
        s = c.sinks.get(obj)
        if s is None:
            raise errors.unsupported(f"{c.info.name} writes no {obj}")
        return s

    def write_in(w: t.Write) -> Write:
        try:
            doc = json.loads(w.document)
        except ValueError:
            raise errors.rejected(f"the {w.object} document is not JSON")
        return Write(
            object=w.object,
            key=w.key,
            operation=w.operation.name.lower(),
            document=doc,
            effective_at=_dt(w.effective_at),
            occurred_at=_dt(w.occurred_at),
            idempotency_key=w.idempotency_key,
            correlation_id=w.correlation_id,
        )

    def dump(doc: Dict[str, Any]) -> str:
        return json.dumps(doc, separators=(",", ":"))

    class WitWorld:
        def describe(self) -> t.Manifest:
            i = c.info
            return t.Manifest(
                name=i.name,
                version=i.version,
                description=i.description,
                source_objects=list(c.source_objects),
                sink_objects=list(c.sinks.keys()),
                hosts=list(i.hosts),
                settings=[t.SettingSpec(s.name, s.description, s.required, s.sensitive) for s in i.settings],
                secrets=list(i.secrets),
                webhooks=c.receive is not None,
                polling=c.poll is not None,
                async_writes=i.async_writes,
                future_dated_writes=i.future_dated_writes,
            )

    def change_out(ch: Change) -> t.Change:
        ms = lambda d: None if d is None else int(d.timestamp() * 1000)  # noqa: E731
        return t.Change(
            source_event_id=ch.source_event_id,
            object=ch.object,
            key=ch.key,
            operation=t.Operation[ch.operation.upper()],
            before=None if ch.before is None else dump(ch.before),
            after=None if ch.after is None else dump(ch.after),
            occurred_at=ms(ch.occurred_at),
            effective_at=ms(ch.effective_at),
            source_version=ch.source_version,
            metadata=list(ch.metadata.items()),
        )

    class Source:
        def receive(self, hook: t.Webhook) -> List[t.Change]:
            def run():
                if c.receive is None:
                    raise errors.unsupported(f"{c.info.name} takes no webhooks")
                return [change_out(ch) for ch in c.receive(hook)]

            return _guard("receive", run)

        def poll(self, object: str, cursor: Optional[str], limit: int) -> t.ChangePage:
            def run():
                if c.poll is None:
                    raise errors.unsupported(f"{c.info.name} does not poll")
                if object not in c.source_objects:
                    raise errors.unsupported(f"{c.info.name} emits no {object}")
                page = c.poll(object, cursor, limit)
                return t.ChangePage([change_out(ch) for ch in page.changes], page.next_cursor, page.has_more)

            return _guard("poll", run)

    class Sink:
        def apply(self, write: t.Write) -> t.Outcome:
            def run():
                out = sink_of(write.object).apply(write_in(write))
                if isinstance(out, Applied):
                    return t.Outcome_Applied(out.target_id)
                if isinstance(out, Accepted):
                    return t.Outcome_Accepted(out.job)
                if isinstance(out, InProgress):
                    return t.Outcome_InProgress(out.job)
                raise TypeError(f"apply returned {out!r}, not Applied, Accepted or InProgress")

            return _guard("apply", run)

        def job_status(self, job: str) -> t.JobState:
            def run():
                raise errors.unsupported(f"{c.info.name} has no asynchronous jobs")

            return _guard("job-status", run)

        def fetch(self, object: str, key: str) -> Optional[str]:
            def run():
                doc = sink_of(object).fetch(key)
                return None if doc is None else dump(doc)

            return _guard("fetch", run)

        def expected(self, write: t.Write) -> str:
            def run():
                s = sink_of(write.object)
                w = write_in(write)
                return dump(s.expected(w) if s.expected else w.document)

            return _guard("expected", run)

        def list(self, object: str, cursor: Optional[str], limit: int) -> t.DocumentPage:
            def run():
                s = sink_of(object)
                if s.list is None:
                    raise errors.unsupported(f"{c.info.name} cannot list {object}")
                page = s.list(cursor, limit)
                return t.DocumentPage([t.KeyedDocument(k, dump(d)) for k, d in page.items], page.next_cursor)

            return _guard("list", run)

    return WitWorld, Source, Sink
