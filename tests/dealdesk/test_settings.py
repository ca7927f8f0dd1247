"""Settings: production refuses unsafe values; the Temporal TLS settings come from DEALDESK_*."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from dealdesk.settings import DEFAULT_SECRET, Settings

SECRET = "q" * 40


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="DEALDESK_SECRET_KEY must be set in production"):
        Settings(_env_file=None, mode="production", seed_demo_data=False)
    with pytest.raises(ValidationError, match="DEALDESK_SECRET_KEY must be set in production"):
        Settings(
            _env_file=None,
            mode="production",
            seed_demo_data=False,
            secret_key=SecretStr(DEFAULT_SECRET),
        )


def test_production_refuses_demo_users() -> None:
    with pytest.raises(ValidationError, match="demo users must not be seeded in production"):
        Settings(_env_file=None, mode="production", secret_key=SecretStr(SECRET))


def test_production_with_a_secret_and_no_demo_users_is_accepted() -> None:
    settings = Settings(
        _env_file=None, mode="production", secret_key=SecretStr(SECRET), seed_demo_data=False
    )
    assert settings.mode == "production"


def test_temporal_tls_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEALDESK_TEMPORAL_TLS_CERT", str(tmp_path / "client.pem"))
    monkeypatch.setenv("DEALDESK_TEMPORAL_TLS_KEY", str(tmp_path / "client.key"))
    monkeypatch.setenv("DEALDESK_TEMPORAL_TLS_CA", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("DEALDESK_TEMPORAL_API_KEY", "an-api-key")

    settings = Settings(_env_file=None)

    assert settings.temporal_tls_cert == tmp_path / "client.pem"
    assert settings.temporal_tls_key == tmp_path / "client.key"
    assert settings.temporal_tls_ca == tmp_path / "ca.pem"
    assert settings.temporal_api_key is not None
    assert settings.temporal_api_key.get_secret_value() == "an-api-key"
    assert "an-api-key" not in repr(settings)


def test_empty_temporal_tls_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TLS_CERT", "TLS_KEY", "TLS_CA", "API_KEY"):
        monkeypatch.setenv(f"DEALDESK_TEMPORAL_{name}", "")

    settings = Settings(_env_file=None)

    assert settings.temporal_tls_cert is None
    assert settings.temporal_tls_key is None
    assert settings.temporal_tls_ca is None
    assert settings.temporal_api_key is None


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    both = "set both DEALDESK_TEMPORAL_TLS_CERT and DEALDESK_TEMPORAL_TLS_KEY"
    with pytest.raises(ValidationError, match=both):
        Settings(_env_file=None, temporal_tls_cert=tmp_path / "client.pem")
    with pytest.raises(ValidationError, match=both):
        Settings(_env_file=None, temporal_tls_key=tmp_path / "client.key")


def test_worker_activity_threads_come_from_the_environment_within_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEALDESK_WORKER_ACTIVITY_THREADS", "8")
    assert Settings(_env_file=None).worker_activity_threads == 8
    for wrong in ("0", "257", "many"):
        monkeypatch.setenv("DEALDESK_WORKER_ACTIVITY_THREADS", wrong)
        with pytest.raises(ValidationError, match="worker_activity_threads"):
            Settings(_env_file=None)
