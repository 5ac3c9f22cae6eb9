"""A deliberately hostile connector in Python: the last segment of a webhook's path picks how it
misbehaves, so Junction's sandbox tests prove a Python guest is contained like a Rust one
(tests/it/polyglot.rs). `/ok` answers an empty list, `/loop` spins forever, `/memory`
allocates until something gives, `/fetch` requests the URL in the body."""

from junction_kit import Connector, Http, Info, define_connector, errors

_hoard = []


def receive(hook):
    what = hook.path.rsplit("/", 1)[-1]
    if what == "ok":
        return []
    if what == "loop":
        n = 0
        while True:
            n = (n + 1) % 1_000_003
    if what == "memory":
        while True:
            _hoard.append(bytearray(1 << 20))
    if what == "fetch":
        Http(base_url=bytes(hook.body).decode()).get("")
        return []
    raise errors.rejected(f"unknown misbehaviour {what}")


WitWorld, Source, Sink = define_connector(Connector(
    info=Info("hostile-py", "0.0.0", "misbehaves on purpose, for sandbox tests"),
    source_objects=["customer"],
    receive=receive,
))
