"""A deliberately hostile connector in Python: the last segment of a webhook's path picks how it
misbehaves, so Junction's sandbox tests prove a Python guest is contained like a Rust one
(tests/it/polyglot.rs). `/ok` answers an empty list, `/loop` spins forever, `/memory`
allocates until something gives, `/fetch` requests the URL in the body, `/signed` checks that `x-signature` is the hex HMAC-SHA256
of the body under the `webhook` secret (the kit's host hmac) and is invalid-webhook otherwise."""

import hmac as _hmac

from junction_kit import Connector, Http, Info, define_connector, errors, hmac_sha256

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
    if what == "signed":
        given = next((v for n, v in hook.headers if n == "x-signature"), "")
        if not _hmac.compare_digest(hmac_sha256("webhook", bytes(hook.body)).hex(), given):
            raise errors.invalid_webhook("the signature does not match")
        return []
    raise errors.rejected(f"unknown misbehaviour {what}")


WitWorld, Source, Sink = define_connector(Connector(
    info=Info("hostile-py", "0.0.0", "misbehaves on purpose, for sandbox tests"),
    source_objects=["customer"],
    receive=receive,
))
