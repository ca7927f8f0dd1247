"""The Temporal client helper: TLS files read at connect time, API key, and the converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from dealdesk import temporal
from dealdesk.settings import Settings


def test_no_tls_settings_leave_tls_to_the_sdk(tmp_path: Path) -> None:
    assert temporal.tls_config(Settings(_env_file=None, data_dir=tmp_path)) is None


def test_tls_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    settings = Settings(
        _env_file=None,
        temporal_tls_cert=tmp_path / "client.pem",
        temporal_tls_key=tmp_path / "client.key",
        temporal_tls_ca=tmp_path / "ca.pem",
    )

    tls = temporal.tls_config(settings)

    assert tls is not None
    assert tls.client_cert == b"CERT"
    assert tls.client_private_key == b"KEY"
    assert tls.server_root_ca_cert == b"CA"


def test_a_ca_alone_verifies_the_server(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")

    tls = temporal.tls_config(Settings(_env_file=None, temporal_tls_ca=tmp_path / "ca.pem"))

    assert tls is not None
    assert tls.server_root_ca_cert == b"CA"
    assert tls.client_cert is None


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, temporal_tls_ca=tmp_path / "missing.pem")

    with pytest.raises(temporal.TemporalConfigError) as refused:
        temporal.tls_config(settings)

    assert str(refused.value) == (
        f"DEALDESK_TEMPORAL_TLS_CA names {tmp_path / 'missing.pem'}, which cannot be read: "
        "No such file or directory"
    )


async def test_connect_passes_tls_api_key_and_converter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")
    seen: dict[str, Any] = {}

    sentinel = object()

    async def fake_connect(target_host: str, **kwargs: Any) -> object:
        seen.update(kwargs, target_host=target_host)
        return sentinel

    monkeypatch.setattr(Client, "connect", fake_connect)
    settings = Settings(
        _env_file=None,
        temporal_address="example.tmprl.cloud:7233",
        temporal_namespace="deals.a1b2c",
        temporal_tls_ca=tmp_path / "ca.pem",
        temporal_api_key=SecretStr("the-key"),
    )

    assert await temporal.connect(settings) is sentinel

    assert seen["target_host"] == "example.tmprl.cloud:7233"
    assert seen["namespace"] == "deals.a1b2c"
    assert seen["api_key"] == "the-key"
    assert seen["tls"].server_root_ca_cert == b"CA"
    assert seen["data_converter"] is pydantic_data_converter
