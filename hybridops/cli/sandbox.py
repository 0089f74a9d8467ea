"""`hybridops sandbox`: serve a local AWS endpoint and admin API in one incident scenario."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""

    @app.command("sandbox")
    def sandbox(
        scenario: str = typer.Option("healthy", "--scenario", help="healthy, outage, bedrock-down, mcp-down, "
                                                                   "error-spike or efficiency-drop."),
        aws_port: int = typer.Option(0, "--aws-port", help="Port of the AWS endpoint (0: a free one)."),
        admin_port: int = typer.Option(0, "--admin-port", help="Port of the admin API (0: a free one)."),
        token: str | None = typer.Option(None, "--token", help="Admin bearer token (default: "
                                         "$HYBRIDOPS_ADMIN_TOKEN, else a generated one)."),
        time_scale: float = typer.Option(1.0, "--time-scale",
                                         help="Divide every simulated delay by this (120: a minute in 0.5 s)."),
        simulated_time: bool = typer.Option(False, "--simulated-time",
                                            help="Run on a simulated clock instead: `hybridops incident` in the "
                                                 "exported environment skips its waits on it (for CI)."),
        seed: int | None = typer.Option(None, "--seed", help="Seed of the world's random details."),
    ) -> int:
        """Serve a local world of AWS and the routing admin API; print its environment as export lines."""
        # everything heavy (moto, werkzeug, boto3) loads here, never for `hybridops --help`
        import os
        import shlex
        import signal
        import sys
        import threading

        from hybridops.durations import MAX_TIME_SCALE
        from hybridops.errors import UsageError
        from hybridops.sandbox.scenarios import SCENARIOS

        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r} (choose from: {', '.join(SCENARIOS)})")
        if not 0 < time_scale <= MAX_TIME_SCALE:  # NaN too
            raise UsageError(f"--time-scale must be greater than 0 and at most {MAX_TIME_SCALE:g}")
        if simulated_time and time_scale != 1:
            raise UsageError("--simulated-time and --time-scale do not go together: simulated waits pass at once")
        for name, port in (("--aws-port", aws_port), ("--admin-port", admin_port)):
            if not 0 <= port <= 65535:
                raise UsageError(f"{name} must be from 0 to 65535")

        from hybridops.engine.clock import SimClock
        from hybridops.sandbox import Sandbox

        stop = threading.Event()
        try:
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        except ValueError:  # not the main thread (an embedding caller): it stops us some other way
            previous = None
        sb = Sandbox(scenario=scenario, aws_port=aws_port, admin_port=admin_port,
                     token=token or os.environ.get("HYBRIDOPS_ADMIN_TOKEN") or None, time_scale=time_scale,
                     clock=SimClock() if simulated_time else None, seed=seed)
        try:
            sb.start()
            # the one place the token is shown: the operator needs it to call the admin API
            lines = [f"export {k}={shlex.quote(v)}" for k, v in sb.env.items()]
            print("\n".join(lines), flush=True)
            clock = "simulated time" if simulated_time else f"time scale {time_scale:g}"
            print(f"# hybridops sandbox: scenario {scenario}, {clock}; "
                  "Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
            while not stop.wait(0.2):  # a timed wait lets Ctrl-C's KeyboardInterrupt through
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sb.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return 0
