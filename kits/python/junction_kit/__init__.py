"""Junction's connector kit for Python: the connector interface, typed canonical documents
(`schemas`, generated from wit/schemas/), HTTP over wasi:http, host services and typed errors.
See kits/python/README.md."""

from . import errors
from .connector import Accepted, Applied, Change, ChangePage, Connector, Info, InProgress, Page, Setting, SinkFor, Write, define_connector
from .host import hmac_sha256, log, now, now_ms, require_setting, setting
from .http import Http, Response, classify, retry_after_ms

__all__ = [
    "Accepted", "Applied", "Change", "ChangePage", "Connector", "Http", "Info", "InProgress", "Page", "Response", "Setting",
    "SinkFor", "Write", "classify", "define_connector", "errors", "hmac_sha256", "log", "now",
    "now_ms", "require_setting", "retry_after_ms", "setting",
]
