from __future__ import annotations

from pathlib import Path

import pytest

from clarion.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_has_help_and_is_in_the_readme(name: str) -> None:
    assert Settings.model_fields[name].description
    assert f"`CLARION_{name.upper()}`" in README


def test_defaults_need_no_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings()
    assert (settings.host, settings.http_port, settings.grpc_port) == ("127.0.0.1", 8080, 18080)
    assert settings.data_dir == tmp_path / "clarion"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'clarion' / 'clarion.db'}"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_GRPC_PORT", "19000")
    assert Settings().grpc_port == 19000
    assert Settings(grpc_port=19001).grpc_port == 19001
