# ECS on Fargate: one cluster, one ECS service per gRPC service plus the Envoy gateway, all in the
# private subnets. Each service task registers in Cloud Map as <service>.<discovery domain>
# (identity.tf), the addresses AUTH_ADDRESS / TASKS_ADDRESS / SERVICE_ADDRESSES say and the gateway
# image is built with; every call between tasks is mutual TLS with the caller's and the callee's
# own certificates, balanced per request by the caller (gRPC round_robin, Envoy).

resource "aws_ecs_cluster" "main" {
  name = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

locals {
  # The init container of every service task. Fargate creates task volumes owned by root, and the
  # service runs as uid 10001 with a read-only root file system: as root, in the same image, this
  # hands DATA_DIR and /tmp to the service user, writes the task's identity (TLS_*_PEM, from its
  # own secret, identity.tf) into the tls volume (the key 0600) and auth's signing keys
  # (JWT_SIGNING_KEYS, from Secrets Manager) into JWT_KEYS_DIR, readable by that user only. It
  # exits; the service container starts only if it succeeded.
  init_script = <<-EOT
    import json, os, pathlib
    uid = gid = 10001
    data = pathlib.Path("${local.data_dir}")
    os.chown(data, uid, gid)
    os.chmod(data, 0o700)
    os.chmod("/tmp", 0o1777)
    tls = pathlib.Path("${local.tls_dir}")
    os.chown(tls, uid, gid)
    os.chmod(tls, 0o700)
    for name, variable, mode in (("ca.crt", "TLS_CA_PEM", 0o644), ("tls.crt", "TLS_CERT_PEM", 0o644), ("tls.key", "TLS_KEY_PEM", 0o600)):
        pem = os.environ.get(variable, "")
        if "-----BEGIN " not in pem:
            raise SystemExit(f"init: {variable} holds no PEM")
        path = tls / name
        path.touch(mode=mode)
        os.chmod(path, mode)
        os.chown(path, uid, gid)
        path.write_text(pem)
    print(f"init: identity in {tls}")
    keys = json.loads(os.environ.get("JWT_SIGNING_KEYS") or "{}")
    if keys:
        jwt = data / "jwt"
        jwt.mkdir(mode=0o700, exist_ok=True)
        os.chown(jwt, uid, gid)
        for name, pem in sorted(keys.items()):
            if "/" in name or not name.endswith(".pem"):
                raise SystemExit(f"JWT_SIGNING_KEYS: {name!r} is not a .pem file name")
            path = jwt / name
            path.write_text(pem)
            os.chown(path, uid, gid)
            os.chmod(path, 0o600)
        print(f"init: {len(keys)} signing key(s) in {jwt}")
  EOT

  # Liveness: the health name "liveness" (tm_common.server.LIVENESS), SERVING while the process
  # runs whatever its dependencies. Not the whole server's status: that turns NOT_SERVING while
  # Redis or Postgres is down, and ECS would then replace every task during an outage that writes
  # survive (README, Events: Outages). On HEALTH_PORT, the plaintext port of grpc.health.v1 alone:
  # with TLS the service port takes only callers with a certificate (GRPC_PORT without TLS).
  # ECS also reports this health to Cloud Map: only tasks that pass it are in the DNS answers.
  health_check_script = "import os, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; c = grpc.insecure_channel('127.0.0.1:' + (os.environ.get('HEALTH_PORT') or os.environ['GRPC_PORT']), options=[('grpc.enable_http_proxy', 0)]); r = g.HealthStub(c).Check(h.HealthCheckRequest(service='liveness'), timeout=3); raise SystemExit(r.status != h.HealthCheckResponse.SERVING)"

  # The service container sees its identity read-only; only the init container writes it.
  init_volumes = [
    { sourceVolume = "data", containerPath = local.data_dir, readOnly = false },
    { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    { sourceVolume = "tls", containerPath = local.tls_dir, readOnly = false },
  ]
  task_volumes = [
    { sourceVolume = "data", containerPath = local.data_dir, readOnly = false },
    { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    { sourceVolume = "tls", containerPath = local.tls_dir, readOnly = true },
  ]

  # The gateway task's init container, in the gateway image itself (Envoy's, with bash: no Python),
  # as root: writes the gateway's identity into the volume Envoy reads at /etc/gateway-tls (where
  # the image's config names its files), owned by Envoy's uid 10001, the key 0600.
  gateway_init_script = <<-EOT
    set -euo pipefail
    umask 077
    dir=${local.gateway_tls_dir}
    for variable in TLS_CA_PEM TLS_CERT_PEM TLS_KEY_PEM; do
      [[ $${!variable:-} == *"-----BEGIN "* ]] || { echo "init: $variable holds no PEM" >&2; exit 1; }
    done
    printf '%s' "$TLS_CA_PEM" > "$dir/ca.crt"
    printf '%s' "$TLS_CERT_PEM" > "$dir/tls.crt"
    printf '%s' "$TLS_KEY_PEM" > "$dir/tls.key"
    chown 10001:10001 "$dir" "$dir/ca.crt" "$dir/tls.crt" "$dir/tls.key"
    chmod 0700 "$dir"
    chmod 0644 "$dir/ca.crt" "$dir/tls.crt"
    chmod 0600 "$dir/tls.key"
    echo "init: identity in $dir"
  EOT

  # The telemetry sidecar of every service task and the gateway task (observability.tf; its
  # configuration is otel-collector.yaml). Not essential: a collector that fails costs telemetry,
  # never requests, and ECS restarts it in place. The main container starts once the collector
  # has started, so that its first spans have a receiver.
  otel_collector_containers = {
    for name, config in local.otel_collector_config : name => {
      name                   = "otel-collector"
      image                  = "public.ecr.aws/aws-observability/aws-otel-collector:${var.otel_collector_version}"
      essential              = false
      cpu                    = var.otel_collector_cpu
      memory                 = var.otel_collector_memory
      readonlyRootFilesystem = true
      environment            = [{ name = "AOT_CONFIG_CONTENT", value = config }]
      restartPolicy          = { enabled = true, restartAttemptPeriod = 60 }
      healthCheck = {
        command     = ["CMD", "/healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload[name].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "otel-collector"
        }
      }
    }
  }
  otel_collector_started = { containerName = "otel-collector", condition = "START" }
}

resource "aws_ecs_task_definition" "service" {
  for_each = local.services

  family                   = "${local.prefix}-${each.key}"
  skip_destroy             = true # revisions stay registered for rollbacks (and CI copies the latest)
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_sizes[each.key].cpu
  memory                   = var.task_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "data"
  }

  volume {
    name = "tmp"
  }

  volume {
    name = "tls"
  }

  container_definitions = jsonencode([
    {
      name                   = "init"
      image                  = "${aws_ecr_repository.image[each.key].repository_url}:${local.image_tags[each.key]}"
      essential              = false
      user                   = "0"
      readonlyRootFilesystem = true
      entryPoint             = ["python", "-c", local.init_script]
      environment            = []
      secrets                = [for k, v in merge(local.identity_secrets[each.key], lookup(local.init_secrets, each.key, {})) : { name = k, valueFrom = v }]
      mountPoints            = local.init_volumes
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload[each.key].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "init"
        }
      }
    },
    {
      name                   = each.key
      image                  = "${aws_ecr_repository.image[each.key].repository_url}:${local.image_tags[each.key]}"
      essential              = true
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      dependsOn              = [{ containerName = "init", condition = "SUCCESS" }, local.otel_collector_started]
      portMappings           = [{ name = each.key, containerPort = each.value.port, protocol = "tcp", appProtocol = "grpc" }]
      environment            = [for k, v in merge(local.database_env, merge(local.service_common_env, { APP_VERSION = local.app_versions[each.key] }, local.service_env[each.key], local.otel_env[each.key], lookup(var.extra_environment, each.key, {}))) : { name = k, value = tostring(v) }]
      secrets                = [for k, v in merge(local.service_secrets[each.key], local.database_proxy_secrets[each.key]) : { name = k, valueFrom = v }]
      mountPoints            = local.task_volumes
      stopTimeout            = 30
      healthCheck = {
        command     = ["CMD", "python", "-c", local.health_check_script]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload[each.key].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "service"
        }
      }
    },
    local.otel_collector_containers[each.key],
  ])

  lifecycle {
    precondition {
      condition     = var.otel_collector_cpu * 2 <= var.task_sizes[each.key].cpu && var.otel_collector_memory * 2 <= var.task_sizes[each.key].memory
      error_message = "task_sizes.${each.key}: the collector (otel_collector_cpu, otel_collector_memory) may take at most half of the task."
    }
  }
}

resource "aws_ecs_service" "service" {
  for_each = local.services

  name                    = each.key
  cluster                 = aws_ecs_cluster.main.id
  task_definition         = aws_ecs_task_definition.service[each.key].arn
  desired_count           = var.task_sizes[each.key].min_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  enable_execute_command  = false
  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"
  wait_for_steady_state   = true

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.services.id]
    assign_public_ip = false
  }

  # One A record per healthy task under <service>.<discovery domain> (identity.tf).
  service_registries {
    registry_arn = aws_service_discovery_service.service[each.key].arn
  }

  # A new identity secret version (a certificate issued again, identity.tf) starts a deployment of
  # the revision that runs: tasks read their secrets when they start.
  force_new_deployment = true
  triggers = {
    identity = aws_secretsmanager_secret_version.identity[each.key].version_id
  }

  # Which revision runs is CI's: .github/scripts/ecs_deploy.py registers one with the image it
  # deploys (everything else copied from the latest revision, i.e. from Terraform) and rolls the
  # service to it. Auto scaling owns the task count.
  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }
}

# --- gateway -------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "gateway" {
  family                   = "${local.prefix}-gateway"
  skip_destroy             = true
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_sizes["gateway"].cpu
  memory                   = var.task_sizes["gateway"].memory
  execution_role_arn       = aws_iam_role.execution["gateway"].arn
  task_role_arn            = aws_iam_role.gateway_task.arn # its collector's, not Envoy's

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tls"
  }

  # The image carries the rendered config (upstreams auth.<discovery domain>:50051, ... over mTLS
  # with the files in /etc/gateway-tls, and the listener on 8080; .github/scripts/images.py builds
  # it so); its init container, in the same image, writes the gateway's identity there first. The
  # load balancer checks Envoy (alb.tf), so the container has no health check of its own (the
  # Envoy image has no HTTP client). Envoy's tracing sends OTLP to the collector beside it on
  # 127.0.0.1:4317 (local.otlp_endpoint), which also scrapes its stats listener.
  container_definitions = jsonencode([
    {
      name                   = "init"
      image                  = "${aws_ecr_repository.image["gateway"].repository_url}:${local.image_tags["gateway"]}"
      essential              = false
      user                   = "0"
      readonlyRootFilesystem = true
      entryPoint             = ["bash", "-c", local.gateway_init_script]
      environment            = []
      secrets                = [for k, v in local.identity_secrets["gateway"] : { name = k, valueFrom = v }]
      mountPoints            = [{ sourceVolume = "tls", containerPath = local.gateway_tls_dir, readOnly = false }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload["gateway"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "init"
        }
      }
    },
    {
      name                   = "gateway"
      image                  = "${aws_ecr_repository.image["gateway"].repository_url}:${local.image_tags["gateway"]}"
      essential              = true
      readonlyRootFilesystem = true
      dependsOn              = [{ containerName = "init", condition = "SUCCESS" }, local.otel_collector_started]
      portMappings           = [{ name = "gateway", containerPort = local.gateway_port, protocol = "tcp", appProtocol = "http2" }]
      environment            = []
      mountPoints            = [{ sourceVolume = "tls", containerPath = local.gateway_tls_dir, readOnly = true }]
      stopTimeout            = 30
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload["gateway"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "gateway"
        }
      }
    },
    local.otel_collector_containers["gateway"],
  ])

  lifecycle {
    precondition {
      condition     = var.otel_collector_cpu * 2 <= var.task_sizes["gateway"].cpu && var.otel_collector_memory * 2 <= var.task_sizes["gateway"].memory
      error_message = "task_sizes.gateway: the collector (otel_collector_cpu, otel_collector_memory) may take at most half of the task."
    }
  }
}

resource "aws_ecs_service" "gateway" {
  name                              = "gateway"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.gateway.arn
  desired_count                     = var.task_sizes["gateway"].min_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  enable_execute_command            = false
  enable_ecs_managed_tags           = true
  propagate_tags                    = "SERVICE"
  wait_for_steady_state             = true
  health_check_grace_period_seconds = 60

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.gateway.id]
    assign_public_ip = false
  }

  # JSON (and anything not gRPC) over HTTP/2 or HTTP/1.1 (var.gateway_protocol_version), and
  # native gRPC, to the same Envoy listener.
  load_balancer {
    target_group_arn = aws_lb_target_group.gateway.arn
    container_name   = "gateway"
    container_port   = local.gateway_port
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.gateway_grpc.arn
    container_name   = "gateway"
    container_port   = local.gateway_port
  }

  # Envoy resolves the services' Cloud Map names itself (STRICT_DNS clusters); the gateway is
  # registered nowhere but in the load balancer's target groups. A new identity secret version
  # starts a deployment, as for the services.
  force_new_deployment = true
  triggers = {
    identity = aws_secretsmanager_secret_version.identity["gateway"].version_id
  }

  depends_on = [aws_lb_listener.https, aws_lb_listener_rule.grpc, aws_ecs_service.service]

  lifecycle {
    ignore_changes = [task_definition, desired_count] # as the services: CI rolls out revisions
  }
}

# --- auto scaling on CPU ---------------------------------------------------------------------------

locals {
  scaled_services = merge(
    { for name, svc in aws_ecs_service.service : name => svc.name },
    { gateway = aws_ecs_service.gateway.name },
  )
}

resource "aws_appautoscaling_target" "service" {
  for_each = local.scaled_services

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${each.value}"
  min_capacity       = var.task_sizes[each.key].min_count
  max_capacity       = var.task_sizes[each.key].max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = local.scaled_services

  name               = "${local.prefix}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
