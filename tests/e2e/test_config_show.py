"""`config show` names the AWS endpoint, credentials and account a run would use, asked of the
sandbox's AWS (moto's server over real HTTP), and never waits long on an unreachable one."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hybridops.sandbox import Sandbox


def test_config_show_names_the_aws_endpoint_credentials_and_account(
        scenario: Callable[[str], Sandbox], run: Callable[..., Any], cli_env: dict[str, str]) -> None:
    scenario("healthy")
    result = run(["config", "show"])
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"aws_endpoint = {cli_env['AWS_ENDPOINT_URL']}  (env AWS_ENDPOINT_URL)" in lines
    assert "aws_credentials = env  (botocore's credential chain)" in lines
    [account] = [x for x in lines if x.startswith("aws_account = ")]
    assert re.fullmatch(r"aws_account = (\d{12})  \(STS GetCallerIdentity: arn:aws:\w+::\1:\S+\)", account), account
    assert cli_env["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr

    offline = run(["config", "show", "--offline"])
    assert offline.code == 0 and "aws_account" not in offline.stdout and "aws_endpoint = " in offline.stdout


def test_config_show_says_when_the_account_cannot_be_known(run: Callable[..., Any],
                                                           cli_env: dict[str, str]) -> None:
    env = {**cli_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens on the discard port
    result = run(["config", "show"], env=env)
    assert result.code == 0, result.stderr
    [account] = [x for x in result.stdout.splitlines() if x.startswith("aws_account = ")]
    assert account.startswith("aws_account = (unknown)  (aws sts GetCallerIdentity: cannot reach the AWS endpoint")
