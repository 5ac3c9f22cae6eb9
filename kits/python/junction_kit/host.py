"""The services Junction's host offers every connector: masked logs, the (injectable) clock,
pipeline settings and HMAC with secrets that never enter the module."""

from datetime import datetime, timezone
from typing import Optional, Union

from componentize_py_types import Err
from wit_world.imports import host as _host

from . import errors


class log:
    @staticmethod
    def debug(message: str) -> None:
        _host.log(_host.Level.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        _host.log(_host.Level.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        _host.log(_host.Level.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        _host.log(_host.Level.ERROR, message)


def now_ms() -> int:
    """The host's clock in Unix milliseconds: never `time.time()` for business time."""
    return _host.now()


def now() -> datetime:
    return datetime.fromtimestamp(_host.now() / 1000, tz=timezone.utc)


def setting(name: str) -> Optional[str]:
    """A value from the pipeline's `[connectors.NAME.settings]` (and `base-url`), or None."""
    return _host.setting(name)


def require_setting(name: str) -> str:
    v = setting(name)
    if not v:
        raise errors.rejected(f"the pipeline sets no `{name}` for this connector", name)
    return v


def hmac_sha256(secret: str, data: Union[bytes, str]) -> bytes:
    """HMAC-SHA256 keyed by the secret the pipeline grants under `secret`, computed by the host."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        return _host.hmac_sha256(secret, raw)
    except Err as e:
        raise errors.invalid_webhook(f"the host cannot sign with secret `{secret}`: {e.value}")
