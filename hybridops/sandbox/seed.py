"""Seed one moto account with the source runbook's resources, and keep them in step with the World.

Seeding calls moto's backends directly (not its HTTP API): it is ~100x faster than signing requests
with botocore, and the sandbox's start-up time is what a drill waits for. The backends are keyed by
account, so each Sandbox gets its own account id and never sees another Sandbox's resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import unix_time_millis
from moto.ec2.models import ec2_backends
from moto.ecs.models import ecs_backends
from moto.elbv2.models import FakeHealthStatus, elbv2_backends
from moto.iam.models import iam_backends
from moto.logs.models import logs_backends
from moto.sqs.models import Message, Queue, sqs_backends

from hybridops.sandbox import logs
from hybridops.sandbox.scenarios import OPERATOR_ROLE
from hybridops.sandbox.world import MCP_SERVICE, ROUTING_SERVICE, World

REGION = "eu-central-1"
ROUTING_CLUSTER = "hybrid-routing-cluster"
MCP_CLUSTER = "mcp-cluster"
QUEUE_NAME = "mcp-router-queue"
BEDROCK_ENDPOINT_SERVICE = f"com.amazonaws.{REGION}.bedrock-runtime"
TARGET_GROUP = "hybrid-routing-tg"
ROUTING_ROLE = "hybrid-routing-task-role"
MCP_ROLE = "mcp-router-task-role"
EXECUTION_ROLE = "ecsTaskExecutionRole"
# What the task role allows (iam:SimulatePrincipalPolicy evaluates these actions).
TASK_ROLE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream",
                     "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
                     "sqs:ReceiveMessage", "sqs:DeleteMessage", "cloudwatch:PutMetricData")
SERVICES = {  # service -> (cluster, task family, desired tasks, log group, task role)
    ROUTING_SERVICE: (ROUTING_CLUSTER, "hybrid-routing", 3, logs.ROUTING_GROUP, ROUTING_ROLE),
    MCP_SERVICE: (MCP_CLUSTER, "mcp-router", 2, logs.MCP_GROUP, MCP_ROLE),
}
METRIC_NAMESPACE = "HybridRouting/Health"
MODULES_TO_RESET = (ecs_backends, elbv2_backends, sqs_backends, logs_backends, cloudwatch_backends)


@dataclass
class Seeded:
    """Ids of the seeded resources and what the sync step last applied."""

    account_id: str
    subnets: list[str]
    security_group: str
    vpc_id: str
    target_group_arn: str = ""
    log_streams: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, list[str]] = field(default_factory=dict)  # service -> task ARNs of the live deployment
    applied_deployments: set[str] = field(default_factory=set)
    metric_put_at: float = 0.0
    metric_status: str = ""
    generation: int = -1


def seed_network(account_id: str) -> Seeded:
    """The parts no scenario changes (VPC, subnets, endpoint, IAM roles): seeded once per account.

    moto's EC2 backend costs ~0.25 s to create, so scenario resets keep it.
    """
    ec2 = ec2_backends[account_id][REGION]
    vpc = ec2.create_vpc("10.20.0.0/16", tags=[{"Key": "Name", "Value": "hybrid-routing-vpc"}])
    # private DNS for the Bedrock endpoint needs DNS hostnames (and moto's awsvpc tasks need it too)
    # what modify_vpc_attribute does, typed: moto annotates its value str, and keeps a bool
    vpc.enable_dns_hostnames = True
    subnets = [
        ec2.create_subnet(vpc.id, f"10.20.{i + 1}.0/24", availability_zone=f"{REGION}{az}").id
        for i, az in enumerate("ab")
    ]
    sg = ec2.create_security_group("hybrid-routing-tasks", "hybrid routing ECS tasks", vpc_id=vpc.id)
    ec2.create_vpc_endpoint(
        vpc_id=vpc.id, service_name=BEDROCK_ENDPOINT_SERVICE, endpoint_type="Interface",
        policy_document=None, route_table_ids=[], subnet_ids=subnets, security_group_ids=[sg.id],
        private_dns_enabled=True, tags={"Name": "bedrock-runtime"},
    )
    iam = iam_backends[account_id]["global"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "HybridRoutingRuntime", "Effect": "Allow", "Action": list(TASK_ROLE_ACTIONS), "Resource": "*"}]})
    for role in (ROUTING_ROLE, MCP_ROLE, EXECUTION_ROLE):
        iam.create_role(role, trust, "/", None, f"{role} (hybridops sandbox)", [], None)
        if role != EXECUTION_ROLE:
            iam.put_role_policy(role, "runtime", policy)
    seed_operator(account_id)
    return Seeded(account_id=account_id, subnets=subnets, security_group=sg.id, vpc_id=vpc.id)


def operator_policies(account_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the managed policy of the runbooks' reads, the inline policy of their changes) of the operator
    role: every action the five runbooks call, on their resources where IAM takes one."""
    reads = {"Version": "2012-10-17", "Statement": [
        {"Sid": "RunbookReads", "Effect": "Allow", "Resource": "*", "Action": [
            "ecs:Describe*", "ecs:List*", "elasticloadbalancing:Describe*", "cloudwatch:GetMetricStatistics",
            "cloudwatch:GetMetricData", "health:Describe*", "servicequotas:ListServiceQuotas",
            "ec2:DescribeVpcEndpoints", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "iam:GetRole",
            "iam:SimulatePrincipalPolicy"]},
        {"Sid": "IncidentLogs", "Effect": "Allow", "Action": ["logs:FilterLogEvents", "logs:DescribeLogGroups"],
         "Resource": f"arn:aws:logs:*:{account_id}:log-group:/aws/ecs/*"},
        {"Sid": "BedrockTestPrompt", "Effect": "Allow", "Action": "bedrock:InvokeModel",
         "Resource": "arn:aws:bedrock:*::foundation-model/*"},
    ]}
    changes = {"Version": "2012-10-17", "Statement": [
        {"Sid": "RestartServices", "Effect": "Allow", "Action": "ecs:UpdateService",
         "Resource": [f"arn:aws:ecs:*:{account_id}:service/{ROUTING_CLUSTER}/*",
                      f"arn:aws:ecs:*:{account_id}:service/{MCP_CLUSTER}/*"]},
        {"Sid": "HybridopsLocksAndAudit", "Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Scan", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"arn:aws:dynamodb:*:{account_id}:table/hybridops-*",
                      f"arn:aws:logs:*:{account_id}:log-group:/hybridops/*"]},
    ]}
    return reads, changes


def seed_operator(account_id: str) -> None:
    """The on-call engineers' role (the sandbox's caller is a session of it): a customer-managed policy
    for the runbooks' reads and an inline one for their changes, written as people write them
    (indented), so that SimulatePrincipalPolicy's statement positions mean something."""
    iam = iam_backends[account_id]["global"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "sts:AssumeRole"}]})
    reads, changes = operator_policies(account_id)
    iam.create_role(OPERATOR_ROLE, trust, "/", None, "on-call engineers running hybridops runbooks", [], None)
    managed = iam.create_policy("the reads of the hybridops runbooks", "/", json.dumps(reads, indent=2),
                                "hybridops-runbook-reads", [])
    iam.attach_role_policy(managed.arn, OPERATOR_ROLE)
    iam.put_role_policy(OPERATOR_ROLE, "runbook-changes", json.dumps(changes, indent=2))


def reset_account(account_id: str) -> None:
    """Forget this account's scenario resources (not the network and roles) before a re-seed."""
    for backends in MODULES_TO_RESET:
        region_backends = backends.get(account_id)  # dict.get: does not create the account
        if region_backends is not None:
            region_backends.pop(REGION, None)


def forget_account(account_id: str) -> None:
    """Drop every resource of the account (a stopped Sandbox's memory goes back to the process)."""
    for backends in (*MODULES_TO_RESET, ec2_backends, iam_backends):
        backends.pop(account_id, None)


def seed_scenario(s: Seeded, world: World) -> None:
    """ECS, ALB, SQS, logs and metrics as the world's scenario starts (called under the world's lock)."""
    acct = s.account_id
    now = world.wall_now()
    _seed_alb(s)
    _seed_ecs(s, world)
    sqs = sqs_backends[acct][REGION]
    queue = sqs.create_queue(QUEUE_NAME, VisibilityTimeout="30", MessageRetentionPeriod="345600")
    # moto's Queue leaves CloudFormationModel's abstract is_created unimplemented (without ABCMeta,
    # so it instantiates fine): mypy counts every subclass of it abstract.
    queue.__class__ = _BacklogQueue  # type: ignore[type-abstract]
    _set_queue_depth(acct, int(world.queue_depth), world)
    logs_backend = logs_backends[acct][REGION]
    events = logs.seed_events(world.scenario, now, world.rng, world.timeout_ms)
    for group, group_events in events.items():
        logs_backend.create_log_group(group, {})
        # moto annotates the days str; its JSON API passes (and answers) the int AWS sends
        logs_backend.put_retention_policy(group, 30)  # type: ignore[arg-type]
        stream = f"ecs/{group.rsplit('/', 1)[-1]}/{s.tasks[_service_of(group)][0].rsplit('/', 1)[-1]}"
        logs_backend.create_log_stream(group, stream)
        s.log_streams[group] = stream
        _put(logs_backend, group, stream, group_events)
    # SystemHealth, one datapoint a minute for the last 10 minutes
    value = world.system_health_value()
    data = [{"MetricName": "SystemHealth", "Value": value if i < 8 or value == 0 else max(0.0, value - 3),
             "Unit": "Percent", "Timestamp": _naive_utc(now - 60 * (10 - i))} for i in range(10)]
    cloudwatch_backends[acct][REGION].put_metric_data(METRIC_NAMESPACE, data)
    s.metric_put_at, s.metric_status = now, world.overall()
    s.applied_deployments = set()
    s.generation = world.generation


class _BacklogQueue(Queue):
    """moto's queue, counting its messages with one clock reading instead of two per message and
    count: mcp-down's backlog of thousands made every GetQueueAttributes take most of a second."""

    def _counts(self) -> tuple[int, int, int]:
        """(visible, not visible, delayed), as moto defines them."""
        now = unix_time_millis()
        visible = not_visible = delayed = 0
        for m in self._messages:
            shown, held = now > m.visible_at, now < m.delayed_until
            visible += shown and not held
            not_visible += not shown
            delayed += held
        return visible, not_visible, delayed

    @property
    def approximate_number_of_messages(self) -> int:
        return self._counts()[0]

    @property
    def approximate_number_of_messages_not_visible(self) -> int:
        return self._counts()[1]

    @property
    def approximate_number_of_messages_delayed(self) -> int:
        return self._counts()[2]


def _naive_utc(ts: float) -> datetime:
    """moto's CloudWatch compares datapoint times with naive UTC datetimes."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _service_of(group: str) -> str:
    return ROUTING_SERVICE if group == logs.ROUTING_GROUP else MCP_SERVICE


def _seed_alb(s: Seeded) -> None:
    elb = elbv2_backends[s.account_id][REGION]
    lb = elb.create_load_balancer("hybrid-routing-alb", [s.security_group], s.subnets, scheme="internal",
                                  loadbalancer_type="application")
    tg = elb.create_target_group(TARGET_GROUP, protocol="HTTP", port=8080, vpc_id=s.vpc_id, target_type="ip",
                                 healthcheck_path="/health", healthcheck_protocol="HTTP")
    elb.create_listener(lb.arn, "HTTP", "80", "", None,
                        [{"Type": "forward", "TargetGroupArn": tg.arn}])
    s.target_group_arn = tg.arn


def _seed_ecs(s: Seeded, world: World) -> None:
    ecs = ecs_backends[s.account_id][REGION]
    iam_arn = f"arn:aws:iam::{s.account_id}:role"
    for cluster in (ROUTING_CLUSTER, MCP_CLUSTER):
        ecs.create_cluster(cluster)
    for service, (cluster, family, desired, group, role) in SERVICES.items():
        td = ecs.register_task_definition(
            family,
            [{"name": family, "image": f"{s.account_id}.dkr.ecr.{REGION}.amazonaws.com/{family}:1.8.2",
              "cpu": 512, "memory": 1024, "essential": True,
              "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
              "logConfiguration": {"logDriver": "awslogs", "options": {
                  "awslogs-group": group, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}}}],
            network_mode="awsvpc", requires_compatibilities=["FARGATE"], cpu="512", memory="1024",
            task_role_arn=f"{iam_arn}/{role}", execution_role_arn=f"{iam_arn}/{EXECUTION_ROLE}",
        )
        lbs = ([{"targetGroupArn": s.target_group_arn, "containerName": family, "containerPort": 8080}]
               if service == ROUTING_SERVICE else [])
        svc = ecs.create_service(cluster, service, desired, task_definition_str=td.arn, load_balancers=lbs,
                                 launch_type="FARGATE", platform_version="LATEST",
                                 network_configuration=_netconf(s))
        # outage: the tasks crash-loop, one of three up at a time; otherwise all are running
        running = 1 if (service == ROUTING_SERVICE and world.routing_broken) else desired
        dep = svc.deployments[0]
        svc.running_count, svc.pending_count = running, desired - running
        dep.update(runningCount=running, pendingCount=desired - running, rolloutState="COMPLETED",
                   rolloutStateReason=f"ECS deployment {dep['id']} completed.")
        if running < desired:
            svc.events = [{"id": "e1", "createdAt": datetime.fromtimestamp(world.wall_now(), UTC),
                           "message": f"(service {service}) has tasks that failed the load balancer health "
                                      f"checks in (target-group {s.target_group_arn})"}]
        s.tasks[service] = _run_tasks(s, service, cast(str, dep["id"]), running)  # moto's dicts hold objects
        if service == ROUTING_SERVICE:
            _register_targets(s, service)
            _watch_target_health(s, world)


def _netconf(s: Seeded) -> dict[str, Any]:
    return {"awsvpcConfiguration": {"subnets": s.subnets, "securityGroups": [s.security_group],
                                    "assignPublicIp": "DISABLED"}}


def _run_tasks(s: Seeded, service: str, started_by: str, count: int) -> list[str]:
    cluster, family, *_ = SERVICES[service]
    ecs = ecs_backends[s.account_id][REGION]
    tasks = ecs.run_task(cluster, family, count, None, started_by, None, "FARGATE",
                         networking_configuration=_netconf(s), group=f"service:{service}")
    return [t.task_arn for t in tasks]


def _task_ips(s: Seeded, service: str) -> list[str]:
    cluster = SERVICES[service][0]
    tasks = ecs_backends[s.account_id][REGION].tasks.get(cluster, {})
    ips = []
    for arn in s.tasks[service]:
        for att in tasks[arn].attachments:
            details = cast(list[dict[str, str]], att["details"])  # moto infers its attachment's values loosely
            ips += [d["value"] for d in details if d["name"] == "privateIPv4Address"]
    return ips


def _register_targets(s: Seeded, service: str) -> None:
    elb = elbv2_backends[s.account_id][REGION]
    tg = elb.target_groups[s.target_group_arn]
    old = [{"Id": t} for t in list(tg.targets)]
    if old:
        elb.deregister_targets(s.target_group_arn, old)
    elb.register_targets(s.target_group_arn, [{"Id": ip, "Port": 8080} for ip in _task_ips(s, service)])


def _watch_target_health(s: Seeded, world: World) -> None:
    """Targets fail their health checks while the routing service is broken (outage).

    moto reports every registered IP target healthy; this one target group asks the world instead.
    """
    tg = elbv2_backends[s.account_id][REGION].target_groups[s.target_group_arn]
    moto_health_for = tg.health_for

    def health_for(target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
        status = moto_health_for(target, ec2_backend)
        if status.status == "healthy" and world.routing_broken:
            return FakeHealthStatus(status.instance_id, status.port, status.health_check_port, "unhealthy",
                                    "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")
        return status

    vars(tg)["health_for"] = health_for  # on this one instance: moto has no hook for a target's health


def _put(logs_backend: Any, group: str, stream: str, events: list[tuple[float, str]]) -> None:
    # Straight to the group: moto's backend drops events over 2 hours ahead of the real clock, and a
    # drill's simulated clock runs ahead of it by every wait it skipped.
    if events:
        logs_backend.groups[group].put_log_events(
            stream, [{"timestamp": int(ts * 1000), "message": m} for ts, m in events])


def _set_queue_depth(acct: str, depth: int, world: World) -> None:
    queue = sqs_backends[acct][REGION].get_queue(QUEUE_NAME)
    have = len(queue._messages)  # moto keeps the queue's messages in this list; no public count setter
    if depth > have:
        rng = world.rng
        for _ in range(depth - have):
            # moto's send_message recomputes every queue attribute per message (quadratic in the
            # backlog: 7 s for mcp-down's 850); a standard queue only needs the message appended
            body = json.dumps({"operation": rng.choice(logs.OPERATIONS), "requestId": logs._uuid(rng)})
            message = Message(logs._uuid(rng), body)
            message.mark_sent(delay_seconds=0)
            queue.add_message(message)
    elif depth < have:
        # the router consumed the oldest messages first
        with queue._messages_lock:
            del queue._messages[: have - depth]


def sync(s: Seeded, world: World) -> None:
    """Bring moto's resources in step with the world (called under the world's lock, before each call)."""
    acct = s.account_id
    now = world.wall_now()
    for service in SERVICES:
        for dep in world.deployments.get(service, []):
            if dep.id not in s.applied_deployments:
                _start_deployment(s, service, dep.id, now)
                s.applied_deployments.add(dep.id)
            if dep.done and f"{dep.id}/done" not in s.applied_deployments:
                _finish_deployment(s, service, dep.id, now)
                s.applied_deployments.add(f"{dep.id}/done")
    _set_queue_depth(acct, int(world.queue_depth), world)
    logs_backend = logs_backends[acct][REGION]
    minutes = world.take_log_minutes()
    for i, _minute in enumerate(minutes):
        ts = now - (len(minutes) - 1 - i) * 0.001
        for group, events in logs.minute_events(world, ts).items():
            _put(logs_backend, group, s.log_streams[group], events)
    status = world.overall()
    if status != s.metric_status or now - s.metric_put_at >= 60:
        cloudwatch_backends[acct][REGION].put_metric_data(METRIC_NAMESPACE, [{
            "MetricName": "SystemHealth", "Value": world.system_health_value(), "Unit": "Percent",
            "Timestamp": _naive_utc(now)}])
        s.metric_put_at, s.metric_status = now, status


def _start_deployment(s: Seeded, service: str, dep_id: str, wall: float) -> None:
    """A forced deployment as ECS shows it while the new tasks start: PRIMARY in progress, old ACTIVE."""
    cluster, _, desired, *_ = SERVICES[service]
    svc = ecs_backends[s.account_id][REGION].services[f"{cluster}:{service}"]
    now = datetime.fromtimestamp(wall, UTC)
    old = [dict(d, status="ACTIVE") for d in svc.deployments if d["status"] == "PRIMARY"]
    primary = dict(svc.deployments[0], id=dep_id, status="PRIMARY", createdAt=now, updatedAt=now,
                   runningCount=0, pendingCount=desired, desiredCount=desired, rolloutState="IN_PROGRESS",
                   rolloutStateReason=f"ECS deployment {dep_id} in progress.")
    svc.deployments = [primary] + old[:1]
    svc.pending_count = desired


def _finish_deployment(s: Seeded, service: str, dep_id: str, wall: float) -> None:
    """The new tasks run; the old ones are stopped and, for the routing service, swapped in the ALB."""
    cluster, _, desired, *_ = SERVICES[service]
    ecs = ecs_backends[s.account_id][REGION]
    svc = ecs.services[f"{cluster}:{service}"]
    for arn in s.tasks.get(service, []):
        ecs.stop_task(cluster, arn, f"Task stopped by deployment {dep_id}")
    s.tasks[service] = _run_tasks(s, service, dep_id, desired)
    now = datetime.fromtimestamp(wall, UTC)
    primary = next((d for d in svc.deployments if d["id"] == dep_id), svc.deployments[0])
    primary.update(runningCount=desired, pendingCount=0, updatedAt=now, rolloutState="COMPLETED",
                   rolloutStateReason=f"ECS deployment {dep_id} completed.")
    svc.deployments = [primary]
    svc.running_count, svc.pending_count = desired, 0
    svc.events = [{"id": dep_id.rsplit("/", 1)[-1], "createdAt": now,
                   "message": f"(service {service}) has reached a steady state."}] + list(svc.events)
    if service == ROUTING_SERVICE:
        _register_targets(s, service)
