"""The one place a Temporal Client is built, so no path forgets the pydantic converter."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from dealdesk.settings import Settings


class TemporalConfigError(ValueError):
    """The Temporal connection settings name something that cannot be used."""


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise TemporalConfigError(
            f"DEALDESK_{setting} names {path}, which cannot be read: {err.strerror}"
        ) from None


def tls_config(settings: Settings) -> TLSConfig | None:
    """TLS from the DEALDESK_TEMPORAL_TLS_* files, read now so a rotated certificate is picked
    up on restart; None leaves TLS off, or on by itself when an API key is set."""
    cert = _read(settings.temporal_tls_cert, "TEMPORAL_TLS_CERT")
    key = _read(settings.temporal_tls_key, "TEMPORAL_TLS_KEY")
    ca = _read(settings.temporal_tls_ca, "TEMPORAL_TLS_CA")
    if cert is None and key is None and ca is None:
        return None
    return TLSConfig(client_cert=cert, client_private_key=key, server_root_ca_cert=ca)


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """`runtime`: the Temporal runtime to use (its metrics and Core logging); None is the
    process-wide default."""
    api_key = settings.temporal_api_key
    # pydantic_data_converter carries Decimal as an exact JSON string; the default converter
    # cannot serialise Decimal at all.
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        # tls=None: the SDK turns TLS on when an API key is given (Temporal Cloud), else off.
        tls=tls_config(settings),
        api_key=api_key.get_secret_value() if api_key is not None else None,
        runtime=runtime,
    )
