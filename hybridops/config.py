"""Every setting of a run, resolved in one place and frozen into one `Settings` object.

Order, for every value: command-line flag, then environment variable, then the selected profile of the
config file, then the runbook's default, then a built-in default. Each resolved value remembers where it
came from (`Value.source`) so `hybridops config show` can print it.

The config file is TOML (`config.toml`) or YAML (`config.yaml`/`.yml`) holding named profiles. Secrets
(admin token, Slack webhook, PagerDuty routing key, secret variables) are never written in it: only as
references `env:NAME`, read from the environment when settings are resolved. A secret value never
appears in an exception message or a repr; `Value.shown` is the only text form meant for people.

This module imports neither typer nor rich: the CLI renders `Settings.rows()`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator, ValidationError

from hybridops.engine.clock import SIMULATED_CLOCK_ENV
from hybridops.errors import ConfigError, UsageError
from hybridops.scrub import MASK, redact_url, register, url_secrets

if TYPE_CHECKING:
    from hybridops.audit.log import AuditKey
    from hybridops.runbook.model import Runbook

APP_NAME = "hybridops"
DEFAULT_ADMIN_URL = "https://api.matbakh.app"  # the `servers` entry of specs/admin-api.openapi.yaml
DEFAULT_REGION = "eu-central-1"
DEFAULT_PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
CONFIG_NAMES = ("config.toml", "config.yaml", "config.yml")
VAR_ENV_PREFIX = "HYBRIDOPS_VAR_"

UNSET = "(unset)"
NOT_SET = "not set"  # the source of a value nothing supplied

_ASSIGNED_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # variable names and step ids (--answer)
_REFERENCE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")


# --- values ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One resolved setting and where it came from; a secret one never shows its value."""

    value: Any
    source: str
    secret: bool = False
    ref: str | None = None  # the environment variable a profile's `env:NAME` reference named

    @property
    def is_set(self) -> bool:
        return self.value is not None

    @property
    def shown(self) -> str:
        """The value as people may see it: secrets masked, unset values explained."""
        if self.value is None or self.value == "":
            return f"(unset: env {self.ref})" if self.ref else UNSET
        if self.secret:
            return MASK
        if isinstance(self.value, str) and "://" in self.value:
            return redact_url(self.value)  # an admin URL may carry a password or a token
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)

    def __repr__(self) -> str:  # masks secrets, so a Value in a log line or traceback is safe
        return f"Value({self.shown!r}, source={self.source!r}, secret={self.secret})"

    __str__ = __repr__

    def coerced(self, like: Any, name: str | None = None) -> Any:
        """The value converted to the type of `like` (a runbook default): --var and env give strings."""
        v = self.value
        if not isinstance(v, str) or like is None or isinstance(like, str):
            return v
        what = f"{name} from {self.source}" if name else self.source
        got = "" if self.secret else f", got {v[:40]!r}" + (f" ({len(v):,} characters)" if len(v) > 40 else "")
        text = v.strip()
        if isinstance(like, bool):
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ConfigError(f"{what}: expected true or false{got}")
        if isinstance(like, int):
            try:
                return int(text)
            except ValueError:
                raise ConfigError(f"{what}: expected an integer{got}") from None
        if isinstance(like, float):
            try:
                return float(text)
            except ValueError:
                raise ConfigError(f"{what}: expected a number{got}") from None
        return v


BUILTIN = "built-in default"


def _unset(*, secret: bool = False) -> Value:
    return Value(None, NOT_SET, secret)


@dataclass(frozen=True)
class Settings:
    """Everything a run is configured with, each value with its source."""

    profile: str | None
    config_path: Path | None
    admin_url: Value
    admin_token: Value
    aws_profile: Value
    aws_region: Value
    variables: dict[str, Value]  # a variable nothing gives a value is absent; the engine reports it
    slack_webhook_url: Value
    pagerduty_routing_key: Value
    pagerduty_url: Value
    audit_dir: Value
    cloudwatch_log_group: Value
    cloudwatch_region: Value
    # A sandbox's simulated clock (`hybridops sandbox --simulated-time` exports it): waits jump.
    simulated_clock: Value = field(default_factory=_unset)
    # The HMAC key that authenticates the audit log (audit.hmac_key, $HYBRIDOPS_AUDIT_KEY) and its name.
    audit_key: Value = field(default_factory=lambda: _unset(secret=True))
    audit_key_id: Value = field(default_factory=_unset)
    audit_kms_key: Value = field(default_factory=_unset)  # audit.kms_key_id, $HYBRIDOPS_AUDIT_KMS_KEY
    # The incident lock across machines (lock.table, $HYBRIDOPS_LOCK_TABLE): unset, a file in the audit dir.
    lock_table: Value = field(default_factory=_unset)
    lock_region: Value = field(default_factory=_unset)
    lock_lease: Value = field(default_factory=_unset)  # a duration (lock.lease, $HYBRIDOPS_LOCK_LEASE)
    # Variables the profile sets by an `env:NAME` reference whose variable is unset: absent from
    # `variables` (never silently replaced by the runbook default), kept here to explain why.
    unresolved: dict[str, Value] = field(default_factory=dict)
    profile_source: str = NOT_SET
    config_source: str = NOT_SET
    # The AWS secret keys and session tokens the environment and the AWS files hold: never shown, but
    # masked wherever an error might echo one (`aws_secrets`).
    aws_secrets: frozenset[str] = field(default=frozenset(), repr=False)

    def secrets(self) -> set[str]:
        """Every secret value in use, for scrubbing output and logs."""
        found: set[str] = set()
        for v in (self.admin_token, self.slack_webhook_url, self.pagerduty_routing_key, self.audit_key,
                  *self.variables.values()):
            if v.secret and v.value is not None and str(v.value) != "":
                found.add(str(v.value))
        # What a URL carries: the admin URL's userinfo and token parameters, a webhook's secret path.
        found.update(url_secrets(self.admin_url.value), url_secrets(self.pagerduty_url.value))
        found.update(url_secrets(self.slack_webhook_url.value, secret_path=True))
        found.update(self.aws_secrets)
        return found

    def rows(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) for every setting, secrets masked."""
        rows = [
            ("profile", self.profile or "(none)", self.profile_source),
            ("config file", str(self.config_path) if self.config_path else "(none)", self.config_source),
        ]
        for name in ("admin_url", "admin_token", "aws_profile", "aws_region", "slack_webhook_url",
                     "pagerduty_routing_key", "pagerduty_url", "audit_dir", "cloudwatch_log_group",
                     "cloudwatch_region"):
            rows.append(_row(name, getattr(self, name)))
        if self.simulated_clock.is_set:
            rows.append(_row("simulated_clock", self.simulated_clock))
        if self.audit_key.is_set or self.audit_key.ref:
            rows += [_row("audit_key", self.audit_key), _row("audit_key_id", self.audit_key_id)]
        if self.audit_kms_key.is_set:
            rows.append(_row("audit_kms_key", self.audit_kms_key))
        if self.lock_table.is_set:
            rows += [_row("lock_table", self.lock_table), _row("lock_region", self.lock_region),
                     _row("lock_lease", self.lock_lease)]
        for name, v in {**self.variables, **self.unresolved}.items():
            rows.append(_row(f"var {name}", v))
        return rows


def _row(name: str, v: Value) -> tuple[str, str, str]:
    source = f"{v.source} via env {v.ref}" if v.ref and v.is_set else v.source
    return (name, v.shown, source)


# --- the config file ---------------------------------------------------------------------------------


def _reference(v: str) -> str:
    # The messages never repeat the value: it may be the very secret that must not be written here.
    if not _REFERENCE.match(v):
        if v.startswith("env:"):
            raise ValueError("a reference is env:NAME, NAME an environment variable name")
        raise ValueError("store secrets as env:NAME references, not literal values")
    return v


def _plain(v: str) -> str:
    if v.startswith("env:"):
        raise ValueError("env:NAME references are for secrets and variables; "
                         "override this setting with its environment variable instead")
    return v


def _url(v: str) -> str:
    _plain(v)
    if not v.startswith(("https://", "http://")):
        raise ValueError("expected an http:// or https:// URL")
    return v


def _scalar(v: Any) -> str | int | float | bool:
    if not isinstance(v, str | int | float | bool):
        raise ValueError("expected a string, number or boolean")
    return v


Reference = Annotated[str, AfterValidator(_reference)]
Plain = Annotated[str, AfterValidator(_plain)]
Url = Annotated[str, AfterValidator(_url)]
Scalar = Annotated[Any, PlainValidator(_scalar)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NotifyConfig(_Section):
    slack_webhook_url: Reference | None = None
    pagerduty_routing_key: Reference | None = None
    pagerduty_url: Url | None = None


class AuditConfig(_Section):
    dir: Plain | None = None
    cloudwatch_log_group: Plain | None = None
    cloudwatch_region: Plain | None = None
    hmac_key: Reference | None = None  # the operator's or team's key the log's MACs are made with
    key_id: Plain | None = None  # its name, written in the log (never the key)
    kms_key_id: Plain | None = None  # an AWS KMS HMAC key (id, ARN or alias) that MACs each seal


class LockConfig(_Section):
    table: Plain | None = None  # a DynamoDB table: the incident lock across machines
    region: Plain | None = None  # the table's region (default: the run's)
    lease: Plain | int | None = None  # how long a lease lasts unless renewed (60s)


class Profile(_Section):
    admin_url: Url | None = None
    admin_token: Reference | None = None
    aws_profile: Plain | None = None
    region: Plain | None = None
    variables: dict[str, Scalar] = {}
    notify: NotifyConfig = NotifyConfig()
    audit: AuditConfig = AuditConfig()
    lock: LockConfig = LockConfig()


class ConfigFile(_Section):
    default_profile: str | None = None
    profiles: dict[str, Profile] = {}


# Which section a location is in, for "unknown key" hints: (path pattern, model); `*` is a profile name.
_SECTIONS: tuple[tuple[tuple[str, ...], type[BaseModel]], ...] = (
    ((), ConfigFile),
    (("profiles", "*"), Profile),
    (("profiles", "*", "notify"), NotifyConfig),
    (("profiles", "*", "audit"), AuditConfig),
    (("profiles", "*", "lock"), LockConfig),
)


def _section_keys(parent: tuple[Any, ...]) -> list[str]:
    for pattern, model in _SECTIONS:
        if len(pattern) == len(parent) and all(p in ("*", q) for p, q in zip(pattern, parent, strict=True)):
            return list(model.model_fields)
    return []


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top)"


@dataclass(frozen=True)
class LoadedConfig:
    """A parsed, validated config file; `locate` gives the line and column of a key, if known."""

    path: Path
    file: ConfigFile
    text: str

    def where(self, loc: tuple[Any, ...]) -> str:
        pos = _locate(self.path, self.text, loc)
        return f"{self.path}:{pos[0]}:{pos[1]}" if pos else str(self.path)


def load_config(path: Path) -> LoadedConfig:
    """Read, parse and validate one config file; any problem is one ConfigError line."""
    from hybridops.runbook.load import FileRefused, read_regular_file, shown_path

    try:
        raw = read_regular_file(path, CONFIG_MAX_BYTES, "config file")
    except FileRefused as exc:
        raise ConfigError(f"{shown_path(path)}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}:{line}:{col}: not UTF-8 text") from None
    data = _parse_yaml(path, text) if path.suffix.lower() in (".yaml", ".yml") else _parse_toml(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1:1: a config file is a mapping of settings, not a {type(data).__name__}")
    _refuse_bad_text(data, (), lambda loc: "{}:{}:{}".format(path, *(_locate(path, text, loc) or (1, 1))))
    try:
        parsed = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, text, exc)) from None
    loaded = LoadedConfig(path, parsed, text)
    if parsed.default_profile is not None and parsed.default_profile not in parsed.profiles:
        raise ConfigError(f"{loaded.where(('default_profile',))}: default_profile "
                          f"{parsed.default_profile!r} is not a profile (known: {_known(parsed.profiles)})")
    return loaded


CONFIG_MAX_BYTES = 1024 * 1024


def _refuse_bad_text(value: Any, loc: tuple[Any, ...], where: Any) -> None:
    """ConfigError at the first key or string holding a control character or a lone surrogate (YAML's
    "\ud800", TOML's "\u001b"): such text cannot be logged, and would rewrite the terminal."""
    from hybridops.runbook.load import bad_character

    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        for text in (key, item):
            if isinstance(text, str) and (found := bad_character(text)) is not None:
                raise ConfigError(f"{where((*loc, key))}: {_dotted((*loc, key))}: the text holds {found[1]}")
        _refuse_bad_text(item, (*loc, key), where)


def refuse_bad_value(name: str, source: str, value: Any) -> None:
    """A variable's value from the command line, the environment or a profile may not hold a control
    character or a lone surrogate (undecodable bytes in argv arrive as surrogates)."""
    from hybridops.runbook.load import bad_character

    if isinstance(value, str) and (found := bad_character(value)) is not None:
        raise ConfigError(f"{name} from {source}: the value holds {found[1]} at character {found[0] + 1}")


def _parse_toml(path: Path, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends with "(at line L, column C)"; the text before it never quotes the
        # file, so it is safe to show even when the bad line holds a secret.
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
        if m:
            raise ConfigError(f"{path}:{m[1]}:{m[2]}: invalid TOML: {msg[: m.start()]}") from None
        raise ConfigError(f"{path}: invalid TOML: {msg}") from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Only `problem`/`context`, never str(exc): that prints a snippet of the file, secrets and all.
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context or 'syntax error'}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {type(exc).__name__}") from None


def _validation_message(path: Path, text: str, exc: ValidationError) -> str:
    problems: dict[tuple[Any, ...], tuple[tuple[int, int], str]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            parent, key = loc[:-1], loc[-1]
            known = ", ".join(_section_keys(parent)) or "none"
            msg = f"{_dotted(parent)}: unknown key {key!r} (known: {known})"
        else:
            detail = err["msg"].removeprefix("Value error, ")
            if kind in ("model_type", "dict_type"):
                detail = "expected a table of settings" if path.suffix == ".toml" else "expected a mapping"
            elif kind == "string_type":
                detail = "expected a string"
            msg = f"{_dotted(loc)}: {detail}"
        pos = _locate(path, text, loc)
        shown = f"{path}:{pos[0]}:{pos[1]}: {msg}" if pos else f"{path}: {msg}"
        problems.setdefault(loc, (pos or (0, 0), shown))
    items = [text for _, text in sorted(problems.values())]  # in file order
    more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
    return "; ".join(items[:3]) + more


def _locate(path: Path, text: str, loc: tuple[Any, ...]) -> tuple[int, int] | None:
    """Line and column of `loc` (or its nearest ancestor) in the file; None if not found."""
    try:
        table = _yaml_positions(text) if path.suffix.lower() in (".yaml", ".yml") else _toml_positions(text)
    except yaml.YAMLError:  # positions are a courtesy; a file that parsed once composes again anyway
        return None
    keyed = tuple(str(p) for p in loc)
    for n in range(len(keyed), 0, -1):
        if keyed[:n] in table:
            return table[keyed[:n]]
    return None


def _yaml_positions(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    found: dict[tuple[str, ...], tuple[int, int]] = {}

    def walk(node: yaml.Node, loc: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    here = (*loc, str(key.value))
                    found.setdefault(here, (key.start_mark.line + 1, key.start_mark.column + 1))
                    walk(value, here)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return found


_TOML_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_PART = re.compile(r"[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'")  # a bare or quoted key
_TOML_KEY = re.compile(rf"^(\s*)((?:{_TOML_PART.pattern})(?:\s*\.\s*(?:{_TOML_PART.pattern}))*)\s*=")


def _toml_positions(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """Where each table and key starts, by a line scan (tomllib gives no positions once parsed).

    Good enough for error messages: headers and `key = ` lines; keys inside inline tables or
    multi-line values fall back to their nearest ancestor.
    """

    def parts(s: str) -> tuple[str, ...]:
        return tuple(p.strip("\"'") for p in _TOML_PART.findall(s))

    found: dict[tuple[str, ...], tuple[int, int]] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if m := _TOML_HEADER.match(line):
            table = parts(m[1])
            found.setdefault(table, (number, line.index("[") + 1))
        elif m := _TOML_KEY.match(line):
            key = (*table, *parts(m[2]))
            found.setdefault(key, (number, len(m[1]) + 1))
    return found


def _known(names: Mapping[str, Any] | list[str]) -> str:
    return ", ".join(sorted(names)) or "none"


# --- resolution --------------------------------------------------------------------------------------


def default_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_audit_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)) / "audit"


def audit_directory(settings: Settings, *, create: bool) -> Path:
    """The one audit dir of a run or a reader: `settings.audit_dir` (--audit-dir, then
    $HYBRIDOPS_AUDIT_DIR, then the profile's `audit.dir`, then the user state dir's `audit/`).

    With `create`, a missing directory is made with mode 0700, and the default location, which is
    ours alone, is tightened to 0700 if something loosened it. A directory the user named that
    already exists keeps its mode: it may be shared on purpose (the log files are 0600 regardless),
    and silently chmod-ing, say, a home or team directory would be worse. Readers (`audit list`)
    pass `create=False`, so looking never creates anything."""
    from hybridops.audit.log import ensure_private_dir

    directory = Path(settings.audit_dir.value).expanduser()
    if create:
        ensure_private_dir(directory, tighten=settings.audit_dir.source == BUILTIN)
    return directory


def audit_key(settings: Settings) -> AuditKey | None:
    """The key that authenticates the audit log, if one is configured; ConfigError if it is unusable."""
    from hybridops.audit.log import AuditKey
    from hybridops.errors import AuditError

    key = settings.audit_key
    if not key.is_set:
        if key.ref:
            raise ConfigError(f"audit key: {key.source} names env {key.ref}, which is unset")
        return None
    try:
        return AuditKey.from_text(settings.audit_key_id.value, str(key.value))
    except AuditError as exc:
        raise ConfigError(f"{exc} (from {key.source})") from None


def kms_sealer(settings: Settings, key_id: str | None = None) -> Any:
    """A KmsSealer for the configured KMS key (or `key_id`), or None when there is none."""
    key_id = key_id or settings.audit_kms_key.value
    if not key_id:
        return None
    from hybridops.audit.kms import KmsSealer

    return KmsSealer(str(key_id), region=settings.aws_region.value, aws_profile=settings.aws_profile.value)


def find_config(config_path: Path | None, env: Mapping[str, str]) -> tuple[Path | None, str]:
    """The config file to use and why: --config, then HYBRIDOPS_CONFIG, then the platform config dir."""
    explicit = ((config_path, "--config"), (_env_path(env, "HYBRIDOPS_CONFIG"), "env HYBRIDOPS_CONFIG"))
    for path, source in explicit:
        if path is not None:
            if not path.exists():
                raise ConfigError(f"config file {path} (from {source}) does not exist")
            return path, source
    base = default_config_dir()
    present = [base / name for name in CONFIG_NAMES if (base / name).is_file()]
    if len(present) > 1:
        names = ", ".join(p.name for p in present)
        raise ConfigError(f"more than one config file in {base} ({names}); keep one")
    if present:
        return present[0], "default location"
    return None, f"none found in {base}"


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None  # set-but-empty counts as unset, as for most CLIs


def _env_path(env: Mapping[str, str], name: str) -> Path | None:
    value = _env(env, name)
    return Path(value).expanduser() if value else None


def _first(*candidates: Value | None, default: Value) -> Value:
    for c in candidates:
        if c is not None:
            return c
    return default


def resolve_settings(
    *,
    config_path: Path | None = None,
    profile: str | None = None,
    flag_vars: dict[str, str] | None = None,
    flag_audit_dir: Path | None = None,
    flag_aws_profile: str | None = None,
    runbook: Runbook | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting: flag, then environment, then profile, then runbook default, then built-in."""
    env = os.environ if env is None else env
    flag_vars = dict(flag_vars or {})

    path, config_source = find_config(config_path, env)
    loaded = load_config(path) if path is not None else None

    profile_name, profile_source = profile, "--profile"
    if profile_name is None and (env_profile := _env(env, "HYBRIDOPS_PROFILE")):
        profile_name, profile_source = env_profile, "env HYBRIDOPS_PROFILE"
    if profile_name is None and loaded is not None and loaded.file.default_profile:
        profile_name, profile_source = loaded.file.default_profile, f"default_profile in {loaded.path}"
    if profile_name is None:
        profile_source = NOT_SET

    prof = Profile()
    label = ""
    if profile_name is not None:
        if loaded is None:
            raise ConfigError(f"profile {profile_name!r} (from {profile_source}) needs a config file, "
                              f"and there is none: {config_source}")
        if profile_name not in loaded.file.profiles:
            raise ConfigError(f"no profile {profile_name!r} (from {profile_source}) in {loaded.path} "
                              f"(known: {_known(loaded.file.profiles)})")
        prof = loaded.file.profiles[profile_name]
        label = f"profile {profile_name} ({loaded.path})"

    def from_env(name: str, *, secret: bool = False) -> Value | None:
        value = _env(env, name)
        return Value(value, f"env {name}", secret) if value is not None else None

    def from_profile(value: Any, key: str, *, secret: bool = False) -> Value | None:
        if value is None:
            return None
        if isinstance(value, str) and (m := _REFERENCE.match(value)):
            return Value(_env(env, m[1]), f"{label} {key}", secret, ref=m[1])
        return Value(value, f"{label} {key}", secret)

    def builtin(value: Any) -> Value:
        return Value(value, BUILTIN)

    admin_url = _first(from_env("HYBRIDOPS_ADMIN_URL"), from_profile(prof.admin_url, "admin_url"),
                       default=builtin(DEFAULT_ADMIN_URL))
    admin_token = _first(from_env("HYBRIDOPS_ADMIN_TOKEN", secret=True),
                         from_profile(prof.admin_token, "admin_token", secret=True),
                         default=_unset(secret=True))
    aws_profile = _first(Value(flag_aws_profile, "--aws-profile") if flag_aws_profile else None,
                         from_env("AWS_PROFILE"), from_profile(prof.aws_profile, "aws_profile"), default=_unset())
    aws_region = _first(from_env("AWS_REGION"), from_env("AWS_DEFAULT_REGION"),
                        from_profile(prof.region, "region"), default=builtin(DEFAULT_REGION))
    notify = prof.notify
    slack = _first(from_env("HYBRIDOPS_SLACK_WEBHOOK_URL", secret=True),
                   from_profile(notify.slack_webhook_url, "notify.slack_webhook_url", secret=True),
                   default=_unset(secret=True))
    routing_key = _first(from_env("HYBRIDOPS_PAGERDUTY_ROUTING_KEY", secret=True),
                         from_profile(notify.pagerduty_routing_key, "notify.pagerduty_routing_key",
                                      secret=True),
                         default=_unset(secret=True))
    pagerduty_url = _first(from_env("HYBRIDOPS_PAGERDUTY_URL"),
                           from_profile(notify.pagerduty_url, "notify.pagerduty_url"),
                           default=builtin(DEFAULT_PAGERDUTY_URL))

    audit = prof.audit
    profile_audit_dir = None
    if audit.dir is not None and loaded is not None:
        # A relative directory in a config file means relative to that file, not to the cwd of the day.
        profile_audit_dir = Value((loaded.path.parent / Path(audit.dir).expanduser()).absolute(),
                                  f"{label} audit.dir")
    audit_dir = _first(
        Value(flag_audit_dir, "--audit-dir") if flag_audit_dir is not None else None,
        Value(p, "env HYBRIDOPS_AUDIT_DIR") if (p := _env_path(env, "HYBRIDOPS_AUDIT_DIR")) else None,
        profile_audit_dir,
        default=builtin(default_audit_dir()),
    )
    log_group = _first(from_env("HYBRIDOPS_AUDIT_LOG_GROUP"),
                       from_profile(audit.cloudwatch_log_group, "audit.cloudwatch_log_group"),
                       default=_unset())
    cw_region = _first(from_profile(audit.cloudwatch_region, "audit.cloudwatch_region"),
                       default=Value(aws_region.value, f"aws_region ({aws_region.source})"))

    variables, unresolved = _resolve_variables(runbook, flag_vars, env, prof, label, loaded, profile_name)

    settings = Settings(
        profile=profile_name,
        config_path=path,
        admin_url=admin_url,
        admin_token=admin_token,
        aws_profile=aws_profile,
        aws_region=aws_region,
        variables=variables,
        slack_webhook_url=slack,
        pagerduty_routing_key=routing_key,
        pagerduty_url=pagerduty_url,
        audit_dir=audit_dir,
        cloudwatch_log_group=log_group,
        cloudwatch_region=cw_region,
        aws_secrets=aws_secrets(env),
        simulated_clock=from_env(SIMULATED_CLOCK_ENV) or _unset(),
        audit_key=_first(from_env("HYBRIDOPS_AUDIT_KEY", secret=True),
                         from_profile(audit.hmac_key, "audit.hmac_key", secret=True), default=_unset(secret=True)),
        audit_key_id=_first(from_env("HYBRIDOPS_AUDIT_KEY_ID"), from_profile(audit.key_id, "audit.key_id"),
                            default=_unset()),
        audit_kms_key=_first(from_env("HYBRIDOPS_AUDIT_KMS_KEY"), from_profile(audit.kms_key_id, "audit.kms_key_id"),
                             default=_unset()),
        lock_table=_first(from_env("HYBRIDOPS_LOCK_TABLE"), from_profile(prof.lock.table, "lock.table"),
                          default=_unset()),
        lock_region=_first(from_env("HYBRIDOPS_LOCK_REGION"), from_profile(prof.lock.region, "lock.region"),
                           default=Value(aws_region.value, f"aws_region ({aws_region.source})")),
        lock_lease=_first(from_env("HYBRIDOPS_LOCK_LEASE"), from_profile(prof.lock.lease, "lock.lease"),
                          default=builtin("60s")),
        unresolved=unresolved,
        profile_source=profile_source,
        config_source=config_source,
    )
    # From here on every output of this command masks them (consoles, error messages, every sink):
    # resolving the settings is the first thing a command that has secrets does.
    register(settings.secrets())
    return settings


def _resolve_variables(
    runbook: Runbook | None,
    flag_vars: dict[str, str],
    env: Mapping[str, str],
    prof: Profile,
    label: str,
    loaded: LoadedConfig | None,
    profile_name: str | None,
) -> tuple[dict[str, Value], dict[str, Value]]:
    variables: dict[str, Value] = {}
    unresolved: dict[str, Value] = {}

    def profile_value(name: str, secret: bool) -> Value | None:
        if name not in prof.variables:
            return None
        raw = prof.variables[name]
        source = f"{label} variables.{name}"
        if isinstance(raw, str) and (m := _REFERENCE.match(raw)):
            return Value(_env(env, m[1]), source, secret, ref=m[1])
        if secret:
            assert loaded is not None  # a profile value exists only when a file was loaded
            where = loaded.where(("profiles", profile_name, "variables", name))
            owner = f"runbook {runbook.id}" if runbook else "its runbook"
            raise ConfigError(f"{where}: variable {name!r} is secret in {owner}; "
                              "store secrets as env:NAME references, not literal values")
        return Value(raw, source, secret)

    if runbook is None:
        # No runbook to say which names exist or which are secret: show what the profile and the flags
        # set, masking every reference (it may well point at a secret).
        for name in sorted(prof.variables):
            listed = profile_value(name, secret=False)
            assert listed is not None
            listed = Value(listed.value, listed.source, listed.ref is not None, listed.ref)
            (variables if listed.is_set else unresolved)[name] = listed
        for name, value in flag_vars.items():
            refuse_bad_value(name, "--var", value)
            variables[name] = Value(value, "--var")
        return variables, unresolved

    declared = {v.name: v for v in runbook.variables}
    unknown = [n for n in flag_vars if n not in declared]
    if unknown:
        raise ConfigError(f"--var {unknown[0]}: runbook {runbook.id} has no variable {unknown[0]!r} "
                          f"(known: {_known(list(declared))})")
    for var in runbook.variables:
        env_name = VAR_ENV_PREFIX + var.name.upper()
        if var.name in flag_vars:
            v: Value | None = Value(flag_vars[var.name], "--var", var.secret)
        elif (from_env := _env(env, env_name)) is not None:
            v = Value(from_env, f"env {env_name}", var.secret)
        elif (from_profile := profile_value(var.name, var.secret)) is not None:
            if not from_profile.is_set:
                # The profile named an env var that is unset: report it, never fall back to the default.
                unresolved[var.name] = from_profile
                continue
            v = from_profile
        elif var.default is not None:
            v = Value(var.default, "runbook default", var.secret)
        else:
            v = None
        if v is not None:
            refuse_bad_value(var.name, v.source, v.value)
            variables[var.name] = v
    return variables, unresolved


AWS_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_AWS_SECRET_KEYS = ("aws_secret_access_key", "aws_session_token", "aws_security_token")
_AWS_FILE_CAP = 1 << 20  # an AWS config or credentials file is a few kB; never read a device whole
# A real secret access key has 40 characters, a session token hundreds. Shorter values are stand-ins
# (the sandbox's "sandbox", moto's "testing"): masking them would mask ordinary words of the output.
AWS_SECRET_MIN_LEN = 16


def aws_secrets(env: Mapping[str, str]) -> frozenset[str]:
    """The AWS secret access keys and session tokens a run may use: from the environment and from
    every profile of the shared credentials and config files (the ones botocore reads). Read as plain
    INI, without botocore: cheap, and nothing is called (no STS, no credential process)."""
    import configparser

    found = {value for name in AWS_SECRET_ENV if (value := _env(env, name))}
    home = Path(env.get("HOME") or Path.home())
    files = (_env_path(env, "AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials",
             _env_path(env, "AWS_CONFIG_FILE") or home / ".aws" / "config")
    for path in files:
        try:
            if not path.is_file():
                continue
            with path.open("rb") as f:
                text = f.read(_AWS_FILE_CAP).decode("utf-8", errors="replace")
            parser = configparser.RawConfigParser(strict=False, interpolation=None)
            parser.read_string(text)
        except (OSError, configparser.Error):
            continue  # botocore will report a broken file when it reads it; here it only hides nothing
        for section in parser.sections():
            for key in _AWS_SECRET_KEYS:
                if value := parser.get(section, key, fallback="").strip():
                    found.add(value)
    return frozenset(s for s in found if len(s) >= AWS_SECRET_MIN_LEN)


def parse_assignments(items: list[str], flag: str = "--var") -> dict[str, str]:
    """`NAME=VALUE` items into a dict; a malformed or repeated item is a UsageError naming it."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        # Only the name part is ever echoed: the value may be a secret.
        if not sep:
            raise UsageError(f"{flag} {name!r}: expected NAME=VALUE")
        if not _ASSIGNED_NAME.match(name):
            raise UsageError(f"{flag} {name!r}: expected NAME=VALUE, NAME of letters, digits, _ . -")
        if name in result:
            raise UsageError(f"{flag} {name!r} given more than once")
        result[name] = value
    return result
