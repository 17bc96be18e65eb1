"""Configuration errors name the key; defaults are what the docs say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wmsocial_bot.config import Config, config_from_mapping, load_config, parse_endpoint_option
from wmsocial_bot.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"policy": {"inactive_days": "x"}}, "policy.inactive_days: expected a whole number"),
        ({"policy": {"inactive_days": 0}}, "policy.inactive_days"),
        ({"policy": {"outage_share": 2}}, "policy.outage_share: expected a share"),
        ({"wiki": {"pge": "x"}}, "wiki.pge: unknown key"),
        ({"wiki": {"pages": []}}, "wiki.pages: expected a page title"),
        ({"nonsense": {}}, "nonsense: unknown section"),
        ({"endpoints": {"wikis.world": "ftp://x"}}, "endpoints.wikis.world: expected an http(s)"),
        ({"endpoints": {"a/b": "http://x"}}, "endpoints: expected a host name"),
        ({"network": {"timeout": -1}}, "network.timeout: expected a number above 0"),
        ({"policy": {"report_inactive": "yes"}}, "policy.report_inactive: expected true or false"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_mapping(data)


def test_file_and_command_line_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[policy]\ninactive_days = 30\n[wiki]\npage = "Other"\n'
        '[endpoints]\n"Wikis.World" = "http://127.0.0.1:9/wikis.world/"\n',
        encoding="utf-8",
    )
    config = load_config(path, ["bsky.app=http://127.0.0.1:9/bsky"])
    assert config.policy.inactive_days == 30
    assert config.wiki.pages == ("Other",)
    assert config.endpoints == {
        "wikis.world": "http://127.0.0.1:9/wikis.world",
        "bsky.app": "http://127.0.0.1:9/bsky",
    }


def test_broken_toml_and_missing_file_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="HOST=BASEURL"):
        parse_endpoint_option("no-equals-sign")


def test_documented_defaults_match_the_code() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    defaults = Config()
    for section in ("policy", "network"):
        for key, value in vars(getattr(defaults, section)).items():
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            assert f"{key} = {shown}" in docs, f"[{section}] {key} = {shown} is not documented"
    assert f'path = "{defaults.state.path}"' in docs
