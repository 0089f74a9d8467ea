"""The one scrubber: secrets masked as written and in the forms they travel in; every secret a command
learns (AWS credentials, URL credentials, values derived from secret variables) registered before
anything can print; the CLI's error lines masked."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from test_engine import FakeHttp, run, runbook

from hybridops import scrub
from hybridops.config import aws_secrets, resolve_settings
from hybridops.scrub import MASK, Scrubber, redact_url, redact_urls, url_secrets

SECRET = "Tok3n-with/odd+chars=&?"


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    scrub.forget_process_secrets()
    yield
    scrub.forget_process_secrets()


def forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "raw": secret,
        "upper": secret.upper(),
        "lower": secret.lower(),
        "base64": base64.b64encode(raw).decode(),
        "base64 url-safe": base64.urlsafe_b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64 of user:secret": base64.b64encode(b"user:" + raw).decode(),
        "base64 of u:secret": base64.b64encode(b"u:" + raw).decode(),
        "base64 of ab:secret": base64.b64encode(b"ab:" + raw).decode(),
        "url-encoded": quote(secret, safe=""),
        "url-encoded plus": quote_plus(secret),
        "json-escaped": json.dumps(secret)[1:-1],
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "XML-escaped": secret.replace("&", "&amp;"),
    }


@pytest.mark.parametrize("form", sorted(forms(SECRET)))
def test_a_secret_is_masked_as_written_and_encoded(form: str) -> None:
    s = Scrubber(shared=False)
    s.add(SECRET)
    encoded = forms(SECRET)[form]
    shown = s.text(f"error: the server said {encoded} (twice: {encoded})")
    assert encoded not in shown and MASK in shown
    assert shown.startswith("error: the server said ")
    assert s.value({"detail": [encoded]}) != {"detail": [encoded]}


def test_short_secrets_are_masked_as_written_only() -> None:
    s = Scrubber(shared=False)
    s.add("abcd")  # 4-7 characters: no encodings, no other case (they would mask ordinary words)
    assert s.text("abcd ABCD") == f"{MASK} ABCD"
    s.add("abc")  # below the minimum: never masked
    assert s.text("abc") == "abc"


def test_the_longest_secret_wins_and_numbers_are_masked_whole() -> None:
    s = Scrubber(shared=False)
    s.add("secret-12345678")
    s.add("12345678")
    assert s.text("x secret-12345678 y 12345678") == f"x {MASK} y {MASK}"
    assert s.value({"n": 12345678}) == {"n": MASK}


def test_a_shared_scrubber_masks_what_the_process_learns_later() -> None:
    early = Scrubber()  # e.g. the audit log's, made before a credential was resolved
    isolated = Scrubber(shared=False)
    scrub.register(["learnt-later-0123456789"])
    assert early.text("learnt-later-0123456789") == MASK
    assert isolated.text("learnt-later-0123456789") == "learnt-later-0123456789"
    other = Scrubber()
    other.add("added-by-another-sink-42")  # an Emitter's derived secret reaches the CLI's error handler
    assert scrub.process_scrubber().text("added-by-another-sink-42") == MASK
    scrub.forget_process_secrets()
    assert early.text("learnt-later-0123456789") == "learnt-later-0123456789"


@pytest.mark.parametrize(("url", "shown"), [
    ("https://bob:hunter2-pass@admin.example/api", f"https://bob:{MASK}@admin.example/api"),
    ("https://bob:p%40ss@admin.example", f"https://bob:{MASK}@admin.example"),
    ("https://ghp_0123456789abcdef@admin.example/", f"https://{MASK}@admin.example/"),
    ("https://admin.example/x?token=abc123&region=eu", f"https://admin.example/x?token={MASK}&region=eu"),
    ("https://admin.example/?api_key=k1&sig=s2&X-Amz-Signature=s3&access_token=t4&page=2",
     f"https://admin.example/?api_key={MASK}&sig={MASK}&X-Amz-Signature={MASK}&access_token={MASK}&page=2"),
    ("https://admin.example/plain", "https://admin.example/plain"),
])
def test_url_credentials_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_urls(f'cannot connect to "{url}" (refused)') == f'cannot connect to "{shown}" (refused)'
    # the scrubber redacts them in any text, registered or not (an httpx error quoting the URL)
    assert Scrubber(shared=False).text(f"GET {url}: refused") == f"GET {shown}: refused"


def test_url_secrets_are_the_userinfo_the_password_and_token_parameters() -> None:
    found = url_secrets("https://bob:p%40ss-word@h/x?token=t0k3n&page=2")
    assert {"bob:p%40ss-word", "bob:p@ss-word", "p%40ss-word", "p@ss-word", "t0k3n"} <= set(found)
    assert "2" not in found and "bob" not in found
    webhook = url_secrets("https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX", secret_path=True)
    assert "XXXXsecretXXXX" in webhook and "/services/T000/B000/XXXXsecretXXXX" in webhook


def _aws_files(tmp_path: Path) -> dict[str, str]:
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDEFAULT\naws_secret_access_key = file-secret-default-1\n"
                     "[oncall]\naws_secret_access_key = file-secret-oncall-2\n"
                     "aws_session_token = file-session-3-abcdefgh\n")
    config = tmp_path / "config"
    config.write_text("[profile sso]\naws_secret_access_key = config-secret-4-abcdefg\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(creds), "AWS_CONFIG_FILE": str(config), "HOME": str(tmp_path)}


def test_aws_secret_keys_and_session_tokens_are_secrets(tmp_path: Path) -> None:
    env = {**_aws_files(tmp_path), "AWS_SECRET_ACCESS_KEY": "env-secret-key-5-abcdef",
           "AWS_SESSION_TOKEN": "env-session-6-abcdefgh", "AWS_ACCESS_KEY_ID": "AKIAPUBLICKEYID"}
    assert aws_secrets(env) == {"file-secret-default-1", "file-secret-oncall-2", "file-session-3-abcdefgh",
                                "config-secret-4-abcdefg", "env-secret-key-5-abcdef", "env-session-6-abcdefgh"}
    settings = resolve_settings(env=env)
    assert aws_secrets(env) <= settings.secrets()
    assert "AKIAPUBLICKEYID" not in settings.secrets()  # the key id is an identifier, shown by config show
    assert "env-session-6-abcdefgh" not in repr(settings)
    # registered when the settings resolve: before anything of the command can print
    assert scrub.process_scrubber().text("token env-session-6-abcdefgh") == f"token {MASK}"


def test_a_device_or_a_broken_file_as_aws_files_hides_nothing_and_hangs_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("[default\naws_secret_access_key = x\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": "/dev/zero", "AWS_CONFIG_FILE": str(broken), "HOME": str(tmp_path),
           "AWS_SESSION_TOKEN": "env-session-7-abcdefgh", "AWS_SECRET_ACCESS_KEY": "sandbox"}
    assert aws_secrets(env) == {"env-session-7-abcdefgh"}  # and a stand-in like "sandbox" is no secret


def test_admin_url_credentials_are_secrets_and_shown_redacted(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "HYBRIDOPS_ADMIN_URL": "https://ops:url-pass-9876@admin.example/?token=qtok-5432"}
    settings = resolve_settings(env=env)
    assert {"ops:url-pass-9876", "url-pass-9876", "qtok-5432"} <= settings.secrets()
    rows = {name: value for name, value, _ in settings.rows()}
    assert rows["admin_url"] == f"https://ops:{MASK}@admin.example/?token={MASK}"


# --- values derived from a secret variable ------------------------------------------------------------

DERIVED = {  # template -> what it renders to, for api_key = KEY
    "{{ api_key|upper }}": lambda k: k.upper(),
    "{{ api_key|lower }}": lambda k: k.lower(),
    "{{ api_key|reverse }}": lambda k: k[::-1],
    "{{ api_key[::-1] }}": lambda k: k[::-1],
    "{{ api_key[4:] }}": lambda k: k[4:],
    "{{ api_key|urlencode }}": lambda k: quote(k),
    "{{ api_key|replace('-', '.') }}": lambda k: k.replace("-", "."),
    "{{ '  ' ~ api_key ~ '  ' | trim }}": lambda k: "  " + k,
    "Bearer {{ api_key|capitalize }}": lambda k: "Bearer " + k.capitalize(),
    "{{ 'x' + api_key + 'y' }}": lambda k: "x" + k + "y",
    "{{ {'k': api_key}|tojson }}": lambda k: json.dumps({"k": k}),
    "{{ api_key|center(60) }}": lambda k: k.center(60),
    "{{ api_key|list|join('.') }}": lambda k: ".".join(k),
}
KEY = "Derived-Secret-Key-5f3a9c"


def _derived_runbook(template: str):
    return runbook(f"""
      - id: send
        title: Send
        budget: 1m
        http: {{method: POST, path: /admin/routing/force-mcp, body: {{reason: {json.dumps(template)}, duration: 60}}}}
""", variables=f"variables:\n  - {{name: api_key, default: {KEY}, secret: true}}\n")


@pytest.mark.parametrize("template", sorted(DERIVED))
def test_a_value_derived_from_a_secret_variable_is_secret(template: str) -> None:
    derived = DERIVED[template](KEY)
    http = FakeHttp({"/admin/routing/force-mcp": [(400, {"error": f"unknown reason {derived}"})]})
    result, log, http, _ = run(_derived_runbook(template), http=http, secrets={KEY}, yes=True)
    assert http.sent[0][2]["reason"] == derived  # the real request carries it
    text = repr(log.records)
    assert derived not in text and derived.strip() not in text
    assert "unknown reason ***" in text  # the server's echo of it, masked
    assert base64.b64encode(derived.encode()).decode() not in text
    assert hashlib.sha256(derived.encode()).hexdigest() not in text
    assert derived not in scrub.process_scrubber().text(str(result))  # the run-ending error, as the CLI prints it


def test_an_error_rendering_a_secret_template_does_not_quote_it() -> None:
    loaded = _derived_runbook("{{ (api_key|upper)|pct }}")  # pct: float() of a string that is not a number
    exc, log, http, _ = run(loaded, secrets={KEY}, yes=True)
    text = repr(log.records) + scrub.process_scrubber().text(str(exc))
    assert KEY.upper() not in text and KEY not in text
    assert "reads the secret variable(s) api_key (details withheld" in text
    assert http.sent == []


def test_the_cli_error_line_is_masked_and_inert(capsys: pytest.CaptureFixture[str]) -> None:
    from hybridops.cli import app

    scrub.register(["cli-error-secret-123"])
    app._say("error: HTTP 401: bad token cli-error-secret-123\x1b[2J\nfake line")
    err = capsys.readouterr().err
    assert err == "error: HTTP 401: bad token ***\\x1b[2J\\nfake line\n"


def test_each_command_starts_knowing_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridops.cli.app import run as cli

    scrub.register(["left-over-from-another-command"])
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli(["--version"]) == 0
    assert scrub.process_scrubber().secrets == ()


def test_credentials_botocore_resolves_during_the_run_are_masked_from_then_on() -> None:
    """A role's or an SSO profile's temporary keys exist only in the run's boto3 session."""
    from hybridops.cli.launch import _masking_credentials
    from hybridops.engine.context import Emitter
    from hybridops.events import StepFinished, StepStatus

    class Frozen:
        secret_key, token = "role-secret-key-0123456789", "role-session-token-0123456789"

    class Credentials:
        def get_frozen_credentials(self) -> Frozen:
            return Frozen()

    class Session:
        def get_credentials(self) -> Credentials:
            return Credentials()

    class Runner:  # an AwsRunner before and after its first call
        _session: Session | None = None
        _clients: dict[str, object] = {}

    runner = _masking_credentials(Runner())
    shown: list[StepFinished] = []
    emit = Emitter(audit=None, ui=[lambda e, _run: shown.append(e)])
    error = f"aws sts GetCallerIdentity: token {Frozen.token} rejected (key {Frozen.secret_key})"
    emit(StepFinished(step_id="s", status=StepStatus.FAILED, error=error))
    assert shown[-1].error == error  # nothing resolved yet: nothing to mask (and nothing was resolved here)
    runner._session, runner._clients = Session(), {"sts": object()}
    emit(StepFinished(step_id="s", status=StepStatus.FAILED, error=error))
    assert shown[-1].error == "aws sts GetCallerIdentity: token *** rejected (key ***)"
    assert scrub.process_scrubber().text(error) == shown[-1].error  # and the CLI's error line


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_and_its_traceback_are_masked(debug: bool, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from hybridops.cli import app as app_module

    def command(**_: object) -> None:
        scrub.register(["traceback-secret-0123456789"])  # as resolving the settings does
        raise RuntimeError("server said traceback-secret-0123456789 \x1b[2J")

    monkeypatch.setattr(app_module, "app", command)
    if debug:
        monkeypatch.setenv("HYBRIDOPS_DEBUG", "1")
    assert app_module.run(["incident", "x"]) == 1
    err = capsys.readouterr().err
    assert "traceback-secret-0123456789" not in err and "\x1b" not in err
    assert err.endswith("error: unexpected RuntimeError: server said *** \\x1b[2J (run with --debug for details)\n")
    assert ("Traceback (most recent call last)" in err) == debug


def test_a_value_derived_from_an_answer_that_holds_a_secret_is_secret() -> None:
    """A server that echoed the token: what the run captured from it holds the secret, and so does
    anything rendered from the capture, reversed or sliced."""
    loaded = runbook("""
      - id: read
        title: Read
        budget: 1m
        http: {method: GET, path: /health, capture: {echo: echo}}
      - id: send
        title: Send
        budget: 1m
        http: {method: POST, path: /admin/routing/force-mcp, body: {reason: "{{ echo|reverse }}", duration: 60}}
""", variables=f"variables:\n  - {{name: api_key, default: {KEY}, secret: true}}\n")
    http = FakeHttp({"/health": [(200, {"echo": f"you sent {KEY}"})]})
    result, log, http, _ = run(loaded, http=http, secrets={KEY}, yes=True)
    reversed_echo = f"you sent {KEY}"[::-1]
    assert http.sent[1][2]["reason"] == reversed_echo
    assert reversed_echo not in repr(log.records) and KEY not in repr(log.records)


def test_the_tools_own_errors_mask_secrets_wherever_they_are_printed() -> None:
    from hybridops.errors import ConfigError, StepFailed

    scrub.register(["error-secret-0123456789"])
    assert str(StepFailed("step x failed: HTTP 401 for error-secret-0123456789")) == "step x failed: HTTP 401 for ***"
    assert "error-secret" not in f"{ConfigError('bad error-secret-0123456789')}"
