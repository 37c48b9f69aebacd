"""Configuration: dict, DDBES_* environment, TOML/JSON files, precedence and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddbes.container import DEFAULTS, create_container, load_configuration
from ddbes.errors import ConfigurationError


def test_defaults_are_in_memory_without_snapshots() -> None:
    configuration = load_configuration(environ={})
    assert configuration == {**DEFAULTS, "checkpoints": "memory"}


def test_later_sources_win_file_then_environment_then_dict(tmp_path: Path) -> None:
    file = tmp_path / "ddbes.toml"
    file.write_text(
        'table_name = "from-file"\nsnapshots_prefix = "file/"\nregion_name = "eu-west-1"\n'
        "snapshots_frequency = 7\n"
    )
    environ = {"DDBES_TABLE_NAME": "from-env", "DDBES_SNAPSHOTS_PREFIX": "env/"}
    configuration = load_configuration(
        {"table_name": "from-dict", "endpoint_url": None}, file=file, environ=environ
    )
    assert configuration["table_name"] == "from-dict"
    assert configuration["snapshots_prefix"] == "env/"
    assert configuration["region_name"] == "eu-west-1"
    assert configuration["snapshots_frequency"] == 7


def test_a_toml_file_may_keep_the_settings_under_a_ddbes_table(tmp_path: Path) -> None:
    file = tmp_path / "app.toml"
    file.write_text('[ddbes]\nbackend = "dynamodb"\ntable_name = "orders"\n[other]\nx = 1\n')
    configuration = load_configuration(file=file, environ={})
    assert (configuration["backend"], configuration["table_name"]) == ("dynamodb", "orders")
    assert configuration["checkpoints"] == "dynamodb"


def test_a_json_file_and_ddbes_config_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "ddbes.json"
    file.write_text(json.dumps({"snapshots": "s3", "snapshots_bucket": "snaps"}))
    configuration = load_configuration(environ={"DDBES_CONFIG": str(file)})
    assert (configuration["snapshots"], configuration["snapshots_bucket"]) == ("s3", "snaps")


def test_environment_integers_are_parsed() -> None:
    configuration = load_configuration(
        environ={"DDBES_LOG_PARTITIONS": "4", "DDBES_SNAPSHOTS_FREQUENCY": "25"}
    )
    assert (configuration["log_partitions"], configuration["snapshots_frequency"]) == (4, 25)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backend": "mongo"}, "unknown backend 'mongo': choose one of memory, dynamodb"),
        ({"checkpoints": "redis"}, "unknown checkpoints 'redis'"),
        ({"snapshots": "on"}, "unknown snapshots 'on': choose one of off, memory, s3"),
        ({"snapshots": "s3"}, "needs a bucket: set snapshots_bucket"),
        ({"snapshots": "dynamodb"}, "it needs backend = 'dynamodb'"),
        ({"tabel_name": "x"}, "unknown configuration key(s) 'tabel_name'"),
        ({"log_partitions": 0}, "log_partitions from the given settings must be a positive"),
        ({"snapshots_frequency": "often"}, "snapshots_frequency from the given settings"),
        ({"table_name": 5}, "table_name from the given settings must be a string"),
    ],
)
def test_bad_settings_are_configuration_errors_that_say_what_to_do(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_configuration(values, environ={})
    assert message in str(caught.value)


def test_a_bad_backend_from_the_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown backend 'dynamo'"):
        create_container(environ={"DDBES_BACKEND": "dynamo"})


def test_bad_files_are_configuration_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigurationError, match="cannot read configuration file"):
        load_configuration(file=missing, environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("backend = \n")
    with pytest.raises(ConfigurationError, match="is not valid TOML"):
        load_configuration(file=broken, environ={})
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="must hold an object"):
        load_configuration(file=listed, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('snapshot = "s3"\n')
    with pytest.raises(ConfigurationError, match=r"'snapshot' in configuration file .*unknown"):
        load_configuration(file=unknown, environ={})


def test_timeout_bounds_every_aws_call_of_the_built_stores() -> None:
    assert load_configuration(environ={"DDBES_TIMEOUT": "2.5"})["timeout"] == 2.5
    for bad in ("0", "-1", "soon", "inf", True):
        with pytest.raises(ConfigurationError, match=r"timeout .* positive number of seconds"):
            load_configuration({"timeout": bad}, environ={})
    container = create_container(
        {
            "backend": "dynamodb",
            "endpoint_url": "http://127.0.0.1:9",
            "region_name": "us-east-1",
            "snapshots": "s3",
            "snapshots_bucket": "b",
            "timeout": 4,
        },
        environ={},
    )
    commits = container.commit_store()
    assert commits.client.meta.config.read_timeout == 4
    assert commits._table.call.total == 4
    assert container.checkpoint_store()._table.call.total == 4
    assert container.snapshot_store().client.meta.config.read_timeout == 4
    assert load_configuration(environ={})["timeout"] is None
