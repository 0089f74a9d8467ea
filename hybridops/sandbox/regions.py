"""Which AWS services each region offers, by botocore's endpoint data: the sandbox's one endpoint
answers every region, AWS does not.

A client for a service in a region that has no endpoint for it (bedrock-runtime in af-south-1, or a
region botocore does not know) resolves a host name such as bedrock-runtime.af-south-1.amazonaws.com
that does not exist: the call ends in botocore's EndpointConnectionError ("Could not connect to the
endpoint URL"), and nothing reached AWS. Behind AWS_ENDPOINT_URL the connection always succeeds, so
the sandbox answers such a call at once, before any fault or simulation, with HTTP 421 (Misdirected
Request: no server here serves that host) in the service's protocol, the error code
EndpointConnectionError and botocore's own message: the step fails with the words a real run shows,
not applied and not worth retrying.
"""

from __future__ import annotations

import functools
from typing import Any

from hybridops.runbook import botocore_check

# SigV4 signing names that are not the boto3 name of the service they sign for
_SIGNED_AS = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2", "servicequotas": "service-quotas",
              "email": "ses", "states": "stepfunctions", "execute-api": "apigateway", "es": "opensearch"}


def boto3_name(signed_as: str) -> str:
    """The boto3 service name of a request signed for `signed_as` (describe_call's service)."""
    return _SIGNED_AS.get(signed_as, signed_as)


@functools.cache
def unavailable(service: str, region: str) -> str | None:
    """Why `service` (a boto3 name) has no endpoint in `region` by botocore's endpoint data, as the
    detail of EndpointConnectionError's message; None when it has one, or when the data cannot tell."""
    partition = _partition_of(region)
    if partition is None:
        # a global service (IAM, AWS Health) has one endpoint whatever the region; any other one's host
        # name is built from the region, and an unknown region's does not resolve
        return None if _global(service) else f"botocore's endpoint data knows no region {region!r}"
    offered = botocore_check.regions_of(service, region)
    if offered is None or region in offered:
        return None
    return (f"botocore's endpoint data has no {service} endpoint in {region}; {len(offered)} regions have "
            f"one: {', '.join(offered[:4])}{', ...' if len(offered) > 4 else ''}")


def endpoint_url(service: str, region: str, path: str) -> str:
    """The URL botocore would have tried for a call to `service` in `region`."""
    model = botocore_check.service_model(service)
    prefix = model.endpoint_prefix if model is not None else service
    partition = _partition_of(region)
    suffix = partition.get("dnsSuffix", "amazonaws.com") if partition else "amazonaws.com"
    return f"https://{prefix}.{region}.{suffix}{path or '/'}"


def _partition_of(region: str) -> dict[str, Any] | None:
    data = botocore_check.data_loader().load_data("endpoints")
    return next((p for p in data.get("partitions", []) if region in p.get("regions", {})), None)


def _global(service: str) -> bool:
    model = botocore_check.service_model(service)
    data = botocore_check.data_loader().load_data("endpoints")
    aws: dict[str, Any] = next((p for p in data.get("partitions", []) if p.get("partition") == "aws"), {})
    entry = aws.get("services", {}).get(model.endpoint_prefix if model else service) or {}
    return entry.get("isRegionalized") is False or "partitionEndpoint" in entry
