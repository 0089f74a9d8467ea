"""Configuration: precedence of every setting, the config file's validation, secrets kept out of sight."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from hybridops.cli.app import run
from hybridops.config import (
    DEFAULT_ADMIN_URL,
    DEFAULT_PAGERDUTY_URL,
    DEFAULT_REGION,
    Settings,
    Value,
    parse_assignments,
    resolve_settings,
)
from hybridops.errors import ConfigError, UsageError
from hybridops.runbook.model import Runbook

SECRET = "planted-s3cret-9f3a"  # must never show up in any output, message or repr

FULL_TOML = """\
default_profile = "prod"

[profiles.prod]
admin_url = "https://admin.prod.example"
admin_token = "env:PROD_ADMIN_TOKEN"
aws_profile = "prod-oncall"
region = "eu-west-1"

[profiles.prod.variables]
cluster = "prod-cluster"
timeout_ms = 9000
db_password = "env:DB_PASSWORD"

[profiles.prod.notify]
slack_webhook_url = "env:SLACK_WEBHOOK_URL"
pagerduty_routing_key = "env:PAGERDUTY_KEY"
pagerduty_url = "https://pd.prod.example/enqueue"

[profiles.prod.audit]
dir = "/var/log/hybridops"
cloudwatch_log_group = "/hybridops/audit"
cloudwatch_region = "us-east-1"

[profiles.staging]
region = "eu-north-1"
"""

FULL_YAML = """\
default_profile: prod
profiles:
  prod:
    admin_url: https://admin.prod.example
    admin_token: env:PROD_ADMIN_TOKEN
    aws_profile: prod-oncall
    region: eu-west-1
    variables:
      cluster: prod-cluster
      timeout_ms: 9000
      db_password: env:DB_PASSWORD
    notify:
      slack_webhook_url: env:SLACK_WEBHOOK_URL
      pagerduty_routing_key: env:PAGERDUTY_KEY
      pagerduty_url: https://pd.prod.example/enqueue
    audit:
      dir: /var/log/hybridops
      cloudwatch_log_group: /hybridops/audit
      cloudwatch_region: us-east-1
  staging:
    region: eu-north-1
"""

RUNBOOK_YAML = """\
id: demo
title: Demo incident
severity: P1
response_time: 15m
impact: none
owner: sre
version: "1"
variables:
  - name: cluster
    default: default-cluster
  - name: timeout_ms
    default: 15000
  - name: service
  - name: db_password
    secret: true
phases:
  - id: look
    title: Look
    steps:
      - id: read
        title: Read
        budget: 1m
        manual:
          instructions: look around
"""


def _runbook() -> Runbook:
    import yaml

    return Runbook.model_validate(yaml.safe_load(RUNBOOK_YAML))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real config dir, state dir or environment setting leaks into a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for name in list(os.environ):
        if name.startswith(("HYBRIDOPS_", "AWS_")) or name in ("PROD_ADMIN_TOKEN", "DB_PASSWORD", "NO_COLOR"):
            monkeypatch.delenv(name)


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(FULL_TOML)
    return path


def _write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _config_error(tmp_path: Path, text: str, name: str = "config.toml", **kw) -> str:
    path = _write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        resolve_settings(config_path=path, env={}, **kw)
    return str(info.value)


# --- parse_assignments ---------------------------------------------------------------------------------


def test_parse_assignments_splits_at_the_first_equals() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    assert parse_assignments(["restore-step=yes"], flag="--answer") == {"restore-step": "yes"}


def test_parse_assignments_without_equals_names_the_item() -> None:
    with pytest.raises(UsageError, match=r"^--var 'cluster': expected NAME=VALUE$"):
        parse_assignments(["cluster"])


def test_parse_assignments_bad_name_never_echoes_the_value() -> None:
    with pytest.raises(UsageError) as info:
        parse_assignments([f"bad name={SECRET}"], flag="--answer")
    assert str(info.value).startswith("--answer 'bad name': expected NAME=VALUE")
    assert SECRET not in str(info.value)


def test_parse_assignments_refuses_a_repeated_name() -> None:
    with pytest.raises(UsageError, match="'a' given more than once"):
        parse_assignments(["a=1", "a=2"])


# --- Value ---------------------------------------------------------------------------------------------


def test_value_shown_masks_secrets_and_explains_unset() -> None:
    assert Value("x", "--var").shown == "x"
    assert Value(True, "runbook default").shown == "true"
    assert Value(SECRET, "env X", secret=True).shown == "***"
    assert Value(None, "not set", secret=True).shown == "(unset)"
    referenced = Value(None, "profile prod", secret=True, ref="PROD_ADMIN_TOKEN")
    assert referenced.shown == "(unset: env PROD_ADMIN_TOKEN)"


def test_value_repr_and_str_never_hold_a_secret() -> None:
    v = Value(SECRET, "env HYBRIDOPS_ADMIN_TOKEN", secret=True)
    assert SECRET not in repr(v)
    assert SECRET not in str(v)
    assert SECRET not in f"{v}"


def test_value_coerced_follows_the_default_type() -> None:
    assert Value("42", "--var").coerced(15000) == 42
    assert Value("0.7", "--var").coerced(0.5) == 0.7
    assert Value("yes", "--var").coerced(False) is True
    assert Value("off", "--var").coerced(True) is False
    assert Value("text", "--var").coerced("default") == "text"
    assert Value(9000, "profile").coerced(15000) == 9000  # already typed (from the file)


def test_value_coerced_error_names_the_variable_but_not_a_secret() -> None:
    with pytest.raises(ConfigError, match=r"^timeout from --var: expected an integer, got 'abc'$"):
        Value("abc", "--var").coerced(1, "timeout")
    with pytest.raises(ConfigError) as info:
        Value(SECRET, "--var", secret=True).coerced(1, "pin")
    assert SECRET not in str(info.value)


# --- built-in defaults ---------------------------------------------------------------------------------


def test_no_file_no_env_gives_built_in_defaults(tmp_path: Path) -> None:
    s = resolve_settings(env={})
    assert s.profile is None and s.config_path is None
    assert (s.admin_url.value, s.admin_url.source) == (DEFAULT_ADMIN_URL, "built-in default")
    assert DEFAULT_ADMIN_URL == "https://api.matbakh.app"
    assert s.admin_token.value is None and s.admin_token.secret and s.admin_token.shown == "(unset)"
    assert s.aws_profile.value is None
    assert (s.aws_region.value, s.aws_region.source) == (DEFAULT_REGION, "built-in default")
    assert s.slack_webhook_url.value is None and s.slack_webhook_url.secret
    assert s.pagerduty_routing_key.value is None and s.pagerduty_routing_key.secret
    assert s.pagerduty_url.value == DEFAULT_PAGERDUTY_URL == "https://events.pagerduty.com/v2/enqueue"
    assert s.audit_dir.value == tmp_path / "xdg-state" / "hybridops" / "audit"
    assert s.audit_dir.source == "built-in default"
    assert s.cloudwatch_log_group.value is None
    assert s.cloudwatch_region.value == DEFAULT_REGION
    assert s.variables == {}
    assert s.secrets() == set()


# --- the profile ---------------------------------------------------------------------------------------


def test_profile_supplies_every_field(toml_file: Path) -> None:
    env = {"PROD_ADMIN_TOKEN": SECRET, "SLACK_WEBHOOK_URL": "https://hooks.example/T1",
           "PAGERDUTY_KEY": "rk1"}
    s = resolve_settings(config_path=toml_file, env=env)
    label = f"profile prod ({toml_file})"
    assert s.profile == "prod" and s.config_path == toml_file
    assert (s.admin_url.value, s.admin_url.source) == ("https://admin.prod.example", f"{label} admin_url")
    assert (s.admin_token.value, s.admin_token.ref) == (SECRET, "PROD_ADMIN_TOKEN")
    assert s.admin_token.secret and s.admin_token.source.startswith(label)
    assert s.aws_profile.value == "prod-oncall"
    assert s.aws_region.value == "eu-west-1"
    assert s.slack_webhook_url.value == "https://hooks.example/T1" and s.slack_webhook_url.secret
    assert s.pagerduty_routing_key.value == "rk1" and s.pagerduty_routing_key.secret
    assert s.pagerduty_url.value == "https://pd.prod.example/enqueue"
    assert s.audit_dir.value == Path("/var/log/hybridops")
    assert s.cloudwatch_log_group.value == "/hybridops/audit"
    assert s.cloudwatch_region.value == "us-east-1"
    assert s.secrets() == {SECRET, "https://hooks.example/T1", "rk1"}


def test_yaml_file_resolves_like_the_toml_one(tmp_path: Path, toml_file: Path) -> None:
    yaml_file = _write(tmp_path, FULL_YAML, "config.yaml")
    env = {"PROD_ADMIN_TOKEN": SECRET, "DB_PASSWORD": "pw"}
    a = resolve_settings(config_path=toml_file, env=env, runbook=_runbook())
    b = resolve_settings(config_path=yaml_file, env=env, runbook=_runbook())
    assert [r[:2] for r in a.rows()][2:] == [r[:2] for r in b.rows()][2:]


def test_unset_reference_leaves_the_secret_unset_and_says_which_variable(toml_file: Path) -> None:
    s = resolve_settings(config_path=toml_file, env={})
    assert s.admin_token.value is None
    assert s.admin_token.shown == "(unset: env PROD_ADMIN_TOKEN)"
    rows = {name: (value, source) for name, value, source in s.rows()}
    assert rows["admin_token"][0] == "(unset: env PROD_ADMIN_TOKEN)"
    assert rows["slack_webhook_url"][0] == "(unset: env SLACK_WEBHOOK_URL)"


def test_empty_env_value_counts_as_unset(toml_file: Path) -> None:
    s = resolve_settings(config_path=toml_file, env={"HYBRIDOPS_ADMIN_URL": "", "PROD_ADMIN_TOKEN": ""})
    assert s.admin_url.value == "https://admin.prod.example"
    assert s.admin_token.value is None


def test_relative_audit_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[profiles.p.audit]\ndir = "logs/audit"\n')
    s = resolve_settings(config_path=path, profile="p", env={})
    assert s.audit_dir.value == (tmp_path / "logs" / "audit").absolute()


# --- environment beats profile, flag beats environment -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "env_name", "value"),
    [
        ("admin_url", "HYBRIDOPS_ADMIN_URL", "http://127.0.0.1:8080"),
        ("admin_token", "HYBRIDOPS_ADMIN_TOKEN", SECRET),
        ("aws_profile", "AWS_PROFILE", "sandbox"),
        ("aws_region", "AWS_REGION", "ap-south-1"),
        ("slack_webhook_url", "HYBRIDOPS_SLACK_WEBHOOK_URL", "https://hooks.example/env"),
        ("pagerduty_routing_key", "HYBRIDOPS_PAGERDUTY_ROUTING_KEY", "rk-env"),
        ("pagerduty_url", "HYBRIDOPS_PAGERDUTY_URL", "http://127.0.0.1:9/enqueue"),
        ("cloudwatch_log_group", "HYBRIDOPS_AUDIT_LOG_GROUP", "/from/env"),
    ],
)
def test_environment_beats_the_profile(toml_file: Path, field: str, env_name: str, value: str) -> None:
    env = {env_name: value, "PROD_ADMIN_TOKEN": "from-profile", "SLACK_WEBHOOK_URL": "x",
           "PAGERDUTY_KEY": "y"}
    got = getattr(resolve_settings(config_path=toml_file, env=env), field)
    assert (got.value, got.source) == (value, f"env {env_name}")


def test_audit_dir_flag_then_env_then_profile_then_default(toml_file: Path, tmp_path: Path) -> None:
    env = {"HYBRIDOPS_AUDIT_DIR": str(tmp_path / "env-audit")}
    s = resolve_settings(config_path=toml_file, env=env, flag_audit_dir=tmp_path / "flag-audit")
    assert (s.audit_dir.value, s.audit_dir.source) == (tmp_path / "flag-audit", "--audit-dir")
    s = resolve_settings(config_path=toml_file, env=env)
    assert (s.audit_dir.value, s.audit_dir.source) == (tmp_path / "env-audit", "env HYBRIDOPS_AUDIT_DIR")
    assert resolve_settings(config_path=toml_file, env={}).audit_dir.value == Path("/var/log/hybridops")
    assert resolve_settings(env={}).audit_dir.source == "built-in default"


def test_region_env_order(toml_file: Path) -> None:
    both = {"AWS_REGION": "r1", "AWS_DEFAULT_REGION": "r2"}
    assert resolve_settings(config_path=toml_file, env=both).aws_region.value == "r1"
    s = resolve_settings(config_path=toml_file, env={"AWS_DEFAULT_REGION": "r2"})
    assert (s.aws_region.value, s.aws_region.source) == ("r2", "env AWS_DEFAULT_REGION")
    assert resolve_settings(config_path=toml_file, env={}).aws_region.value == "eu-west-1"
    assert resolve_settings(env={}).aws_region.value == DEFAULT_REGION


def test_cloudwatch_region_follows_aws_region_unless_the_profile_sets_it(toml_file: Path) -> None:
    s = resolve_settings(config_path=toml_file, env={"AWS_REGION": "r1"})
    assert s.cloudwatch_region.value == "us-east-1"
    s = resolve_settings(config_path=toml_file, profile="staging", env={"AWS_REGION": "r1"})
    assert s.cloudwatch_region.value == "r1"
    assert s.cloudwatch_region.source == "aws_region (env AWS_REGION)"


# --- runbook variables ---------------------------------------------------------------------------------


def test_variables_flag_then_env_then_profile_then_runbook_default(toml_file: Path) -> None:
    rb = _runbook()
    env = {"DB_PASSWORD": SECRET}
    s = resolve_settings(config_path=toml_file, env=env, runbook=rb)
    assert (s.variables["cluster"].value, s.variables["cluster"].source) == (
        "prod-cluster", f"profile prod ({toml_file}) variables.cluster")
    assert s.variables["timeout_ms"].value == 9000  # typed, from the file
    assert "service" not in s.variables  # required and unset: absent; the engine reports it

    env["HYBRIDOPS_VAR_CLUSTER"] = "env-cluster"
    env["HYBRIDOPS_VAR_SERVICE"] = "router"
    s = resolve_settings(config_path=toml_file, env=env, runbook=rb)
    cluster = s.variables["cluster"]
    assert (cluster.value, cluster.source) == ("env-cluster", "env HYBRIDOPS_VAR_CLUSTER")
    assert s.variables["service"].value == "router"

    s = resolve_settings(config_path=toml_file, env=env, runbook=rb, flag_vars={"cluster": "flag-cluster"})
    assert (s.variables["cluster"].value, s.variables["cluster"].source) == ("flag-cluster", "--var")

    s = resolve_settings(env={}, runbook=rb)
    cluster = s.variables["cluster"]
    assert (cluster.value, cluster.source) == ("default-cluster", "runbook default")
    assert s.variables["timeout_ms"].value == 15000
    assert set(s.variables) == {"cluster", "timeout_ms"}


def test_secret_variable_is_secret_whatever_its_source(toml_file: Path) -> None:
    rb = _runbook()
    s = resolve_settings(config_path=toml_file, env={"DB_PASSWORD": SECRET}, runbook=rb)
    pw = s.variables["db_password"]
    assert (pw.value, pw.secret, pw.shown, pw.ref) == (SECRET, True, "***", "DB_PASSWORD")
    assert SECRET in s.secrets()
    s = resolve_settings(env={}, runbook=rb, flag_vars={"db_password": SECRET})
    assert s.variables["db_password"].secret and s.secrets() == {SECRET}
    assert SECRET not in repr(s)


def test_unset_reference_for_a_variable_is_unresolved_not_defaulted(tmp_path: Path) -> None:
    path = _write(tmp_path, '[profiles.p.variables]\ncluster = "env:CLUSTER_NAME"\n')
    s = resolve_settings(config_path=path, profile="p", env={}, runbook=_runbook())
    assert "cluster" not in s.variables
    assert s.unresolved["cluster"].shown == "(unset: env CLUSTER_NAME)"
    assert ("var cluster", "(unset: env CLUSTER_NAME)") in [r[:2] for r in s.rows()]


def test_var_for_an_undeclared_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(env={}, runbook=_runbook(), flag_vars={"clustr": "x"})
    assert str(info.value) == (
        "--var clustr: runbook demo has no variable 'clustr' "
        "(known: cluster, db_password, service, timeout_ms)"
    )


def test_literal_secret_variable_in_the_profile_is_refused_with_its_position(tmp_path: Path) -> None:
    text = f'[profiles.p]\nregion = "r"\n[profiles.p.variables]\ndb_password = "{SECRET}"\n'
    message = _config_error(tmp_path, text, profile="p", runbook=_runbook())
    assert message == (
        f"{tmp_path / 'config.toml'}:4:1: variable 'db_password' is secret in runbook demo; "
        "store secrets as env:NAME references, not literal values"
    )


def test_profile_variables_without_a_runbook_mask_references(toml_file: Path) -> None:
    s = resolve_settings(config_path=toml_file, env={"DB_PASSWORD": SECRET})
    assert s.variables["cluster"].shown == "prod-cluster"
    assert s.variables["db_password"].shown == "***"


# --- choosing the profile and the file -----------------------------------------------------------------


def test_profile_flag_then_env_then_default_profile(toml_file: Path) -> None:
    s = resolve_settings(config_path=toml_file, profile="staging", env={"HYBRIDOPS_PROFILE": "prod"})
    assert (s.profile, s.profile_source, s.aws_region.value) == ("staging", "--profile", "eu-north-1")
    s = resolve_settings(config_path=toml_file, env={"HYBRIDOPS_PROFILE": "staging"})
    assert (s.profile, s.profile_source) == ("staging", "env HYBRIDOPS_PROFILE")
    s = resolve_settings(config_path=toml_file, env={})
    assert (s.profile, s.profile_source) == ("prod", f"default_profile in {toml_file}")


def test_no_default_profile_means_no_profile(tmp_path: Path) -> None:
    path = _write(tmp_path, '[profiles.prod]\nregion = "eu-west-1"\n')
    s = resolve_settings(config_path=path, env={})
    assert s.profile is None and s.aws_region.value == DEFAULT_REGION


def test_unknown_profile_lists_the_known_ones(toml_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(config_path=toml_file, profile="qa", env={})
    assert str(info.value) == f"no profile 'qa' (from --profile) in {toml_file} (known: prod, staging)"


def test_profile_without_any_config_file(tmp_path: Path) -> None:
    expected = r"^profile 'prod' \(from env HYBRIDOPS_PROFILE\) needs a config file"
    with pytest.raises(ConfigError, match=expected):
        resolve_settings(env={"HYBRIDOPS_PROFILE": "prod"})


def test_config_file_flag_then_env_then_platform_dir(tmp_path: Path, toml_file: Path) -> None:
    other = _write(tmp_path, '[profiles.x]\nregion = "r-env"\n', "other.toml")
    s = resolve_settings(config_path=toml_file, env={"HYBRIDOPS_CONFIG": str(other)})
    assert (s.config_path, s.config_source) == (toml_file, "--config")
    s = resolve_settings(env={"HYBRIDOPS_CONFIG": str(other)}, profile="x")
    assert (s.config_path, s.config_source, s.aws_region.value) == (other, "env HYBRIDOPS_CONFIG", "r-env")

    platform_dir = tmp_path / "xdg-config" / "hybridops"
    platform_dir.mkdir(parents=True)
    (platform_dir / "config.yml").write_text("profiles:\n  y:\n    region: r-dir\n")
    s = resolve_settings(env={}, profile="y")
    assert (s.config_path, s.aws_region.value) == (platform_dir / "config.yml", "r-dir")

    (platform_dir / "config.toml").write_text("")
    expected = r"more than one config file in .* \(config.toml, config.yml\); keep one"
    with pytest.raises(ConfigError, match=expected):
        resolve_settings(env={})


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope.toml \(from --config\) does not exist$"):
        resolve_settings(config_path=tmp_path / "nope.toml", env={})


# --- file errors ---------------------------------------------------------------------------------------


def test_invalid_toml_gives_line_and_column_without_the_line_text(tmp_path: Path) -> None:
    message = _config_error(tmp_path, f'[profiles.p]\nadmin_token = {SECRET}\n')
    assert message == f"{tmp_path / 'config.toml'}:2:15: invalid TOML: Invalid value"


def test_invalid_yaml_gives_line_and_column_without_the_line_text(tmp_path: Path) -> None:
    message = _config_error(tmp_path, f"profiles:\n  p:\n    admin_token: {SECRET}: x\n", "config.yaml")
    assert message == f"{tmp_path / 'config.yaml'}:3:37: invalid YAML: mapping values are not allowed here"
    assert SECRET not in message


def test_unknown_key_is_positioned_and_lists_the_known_keys(tmp_path: Path) -> None:
    message = _config_error(tmp_path, '[profiles.p]\nregion = "r"\nregoin = "r"\n')
    assert message == (
        f"{tmp_path / 'config.toml'}:3:1: profiles.p: unknown key 'regoin' (known: admin_url, admin_token, "
        "aws_profile, region, variables, notify, audit, lock)"
    )


def test_unknown_key_in_yaml_is_positioned(tmp_path: Path) -> None:
    message = _config_error(tmp_path, "profiles:\n  p:\n    notify:\n      slack: x\n", "config.yaml")
    assert message.startswith(f"{tmp_path / 'config.yaml'}:4:7: profiles.p.notify: unknown key 'slack'")


def test_wrong_type_is_positioned(tmp_path: Path) -> None:
    message = _config_error(tmp_path, "[profiles.p]\nregion = 5\n")
    assert message == f"{tmp_path / 'config.toml'}:2:1: profiles.p.region: expected a string"
    text = "profiles:\n  p:\n    variables:\n      when: 2024-01-01\n"
    message = _config_error(tmp_path, text, "config.yaml")
    assert message == (
        f"{tmp_path / 'config.yaml'}:4:7: profiles.p.variables.when: expected a string, number or boolean"
    )


def test_literal_secret_is_refused_and_never_repeated(tmp_path: Path) -> None:
    for key in ("admin_token", "notify.slack_webhook_url", "notify.pagerduty_routing_key"):
        section, _, name = key.rpartition(".")
        header = f"[profiles.p.{section}]" if section else "[profiles.p]"
        message = _config_error(tmp_path, f'{header}\n{name} = "{SECRET}"\n')
        assert message == (
            f"{tmp_path / 'config.toml'}:2:1: profiles.p.{key}: "
            "store secrets as env:NAME references, not literal values"
        )


def test_bad_reference_and_reference_for_a_plain_setting(tmp_path: Path) -> None:
    message = _config_error(tmp_path, '[profiles.p]\nadmin_token = "env:not a name"\n')
    assert message.endswith(
        "profiles.p.admin_token: a reference is env:NAME, NAME an environment variable name")
    message = _config_error(tmp_path, '[profiles.p]\nadmin_url = "env:ADMIN_URL"\n')
    assert "profiles.p.admin_url: env:NAME references are for secrets and variables" in message
    message = _config_error(tmp_path, '[profiles.p]\nadmin_url = "ftp://x"\n')
    assert message.endswith(":2:1: profiles.p.admin_url: expected an http:// or https:// URL")


def test_several_problems_in_one_line_in_file_order(tmp_path: Path) -> None:
    message = _config_error(tmp_path, '[profiles.p]\nb = 1\nregion = 5\n[profiles.p.audit]\nx = 1\n')
    assert "\n" not in message
    parts = message.split("; ")
    assert [p.split(": ")[0].rsplit(":", 2)[1] for p in parts] == ["2", "3", "5"]


def test_default_profile_must_exist(tmp_path: Path) -> None:
    message = _config_error(tmp_path, 'default_profile = "prd"\n[profiles.prod]\n')
    assert message == f"{tmp_path / 'config.toml'}:1:1: default_profile 'prd' is not a profile (known: prod)"


def test_non_mapping_and_non_utf8_and_directory(tmp_path: Path) -> None:
    assert _config_error(tmp_path, "- a\n- b\n", "config.yaml").endswith(
        ":1:1: a config file is a mapping of settings, not a list")
    path = tmp_path / "bin.toml"
    path.write_bytes(b'[profiles.p]\nregion = "\xff"\n')
    with pytest.raises(ConfigError, match=r"bin.toml:2:11: not UTF-8 text$"):
        resolve_settings(config_path=path, env={})
    with pytest.raises(ConfigError, match="is a directory, not a config file"):
        resolve_settings(config_path=tmp_path, env={})


def test_empty_files_are_fine(tmp_path: Path) -> None:
    for name in ("config.toml", "config.yaml"):
        s = resolve_settings(config_path=_write(tmp_path, "", name), env={})
        assert s.profile is None and s.admin_url.value == DEFAULT_ADMIN_URL


# --- rows, secrets, repr -------------------------------------------------------------------------------


def test_rows_and_repr_mask_every_secret(toml_file: Path) -> None:
    env = {"PROD_ADMIN_TOKEN": SECRET, "SLACK_WEBHOOK_URL": SECRET + "-hook", "PAGERDUTY_KEY": SECRET + "-rk",
           "DB_PASSWORD": SECRET + "-pw"}
    s = resolve_settings(config_path=toml_file, env=env, runbook=_runbook())
    assert isinstance(s, Settings)
    rows = s.rows()
    assert [r[0] for r in rows] == [
        "profile", "config file", "admin_url", "admin_token", "aws_profile", "aws_region",
        "slack_webhook_url", "pagerduty_routing_key", "pagerduty_url", "audit_dir", "cloudwatch_log_group",
        "cloudwatch_region",
        "var cluster", "var timeout_ms", "var db_password",
    ]
    assert dict((r[0], r[2]) for r in rows)["admin_token"] == (
        f"profile prod ({toml_file}) admin_token via env PROD_ADMIN_TOKEN")
    assert SECRET not in repr(rows) and SECRET not in repr(s)
    assert s.secrets() == {SECRET, SECRET + "-hook", SECRET + "-rk", SECRET + "-pw"}


# --- the CLI -------------------------------------------------------------------------------------------


def test_cli_config_show_plain_lines_with_sources_and_no_secret(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROD_ADMIN_TOKEN", SECRET)
    monkeypatch.setenv("HYBRIDOPS_SLACK_WEBHOOK_URL", SECRET + "-hook")
    assert run(["config", "show", "--offline", "--config", str(toml_file)]) == 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    lines = captured.out.splitlines()
    assert lines[0] == f"profile = prod  (default_profile in {toml_file})"
    assert f"admin_token = ***  (profile prod ({toml_file}) admin_token via env PROD_ADMIN_TOKEN)" in lines
    assert "slack_webhook_url = ***  (env HYBRIDOPS_SLACK_WEBHOOK_URL)" in lines
    assert "pagerduty_routing_key = (unset: env PAGERDUTY_KEY)" in captured.out
    assert f"aws_region = eu-west-1  (profile prod ({toml_file}) region)" in lines
    # the AWS side of the profile, said plainly rather than a crash: its AWS profile is not on this machine
    assert lines[-1] == ("aws_endpoint = (unknown: AWS profile not found: prod-oncall (check --aws-profile / "
                         "AWS_PROFILE and ~/.aws/config))  (botocore)")
    assert captured.err == ""


def test_cli_config_show_with_a_runbook_and_profile(
    toml_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runbook = _write(tmp_path, RUNBOOK_YAML, "demo.yaml")
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("HYBRIDOPS_VAR_SERVICE", "router")
    code = run(["config", "show", "--offline", "--config", str(toml_file), "--profile", "prod",
               "--runbook", str(runbook)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert SECRET not in captured.out + captured.err
    assert "var db_password = ***" in captured.out
    assert "var service = router  (env HYBRIDOPS_VAR_SERVICE)" in captured.out
    assert "var timeout_ms = 9000" in captured.out


def test_cli_config_show_rich_table_on_a_terminal(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, no_color=True)
    monkeypatch.setattr("hybridops.cli.console.out", lambda: console)
    monkeypatch.setenv("PROD_ADMIN_TOKEN", SECRET)
    assert run(["config", "show", "--offline", "--config", str(toml_file)]) == 0
    table = buffer.getvalue()
    assert SECRET not in table + capsys.readouterr().out
    assert "admin_token" in table and "***" in table and "source" in table


def test_cli_config_show_reports_file_errors_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, f'[profiles.p]\nadmin_token = "{SECRET}"\n')
    assert run(["config", "show", "--config", str(path), "--profile", "p"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: {path}:2:1: profiles.p.admin_token: "
        "store secrets as env:NAME references, not literal values\n"
    )
    assert SECRET not in captured.out + captured.err


def test_cli_config_show_unknown_profile(toml_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "show", "--config", str(toml_file), "--profile", "qa"]) == 1
    assert capsys.readouterr().err == (
        f"error: no profile 'qa' (from --profile) in {toml_file} (known: prod, staging)\n")


def test_cli_config_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "show", "--help"]) == 0
    assert "--profile" in capsys.readouterr().out
