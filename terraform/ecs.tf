# ECS on Fargate: one cluster, one ECS service per gRPC service plus the Envoy gateway, all in the
# private subnets. Services find each other through Service Connect under the same short names
# docker-compose.yml uses (auth:50051, tasks:50052, ...), which is what the gateway image is built
# with and what AUTH_ADDRESS / TASKS_ADDRESS / SERVICE_ADDRESSES say. Service Connect's proxy
# balances gRPC per request (appProtocol grpc), not per connection.

resource "aws_service_discovery_http_namespace" "main" {
  name        = local.prefix
  description = "Service Connect namespace of Task Manager (${var.environment})"
}

resource "aws_ecs_cluster" "main" {
  name = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  service_connect_defaults {
    namespace = aws_service_discovery_http_namespace.main.arn
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
  # hands DATA_DIR and /tmp to the service user and writes auth's signing keys
  # (JWT_SIGNING_KEYS, from Secrets Manager) into JWT_KEYS_DIR, readable by that user only. It
  # exits; the service container starts only if it succeeded.
  init_script = <<-EOT
    import json, os, pathlib
    uid = gid = 10001
    data = pathlib.Path("${local.data_dir}")
    os.chown(data, uid, gid)
    os.chmod(data, 0o700)
    os.chmod("/tmp", 0o1777)
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
  # survive (README, Events: Outages).
  health_check_script = "import os, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; c = grpc.insecure_channel('127.0.0.1:' + os.environ['GRPC_PORT'], options=[('grpc.enable_http_proxy', 0)]); r = g.HealthStub(c).Check(h.HealthCheckRequest(service='liveness'), timeout=3); raise SystemExit(r.status != h.HealthCheckResponse.SERVING)"

  task_volumes = [
    { sourceVolume = "data", containerPath = local.data_dir, readOnly = false },
    { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
  ]

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

  container_definitions = jsonencode([
    {
      name                   = "init"
      image                  = "${aws_ecr_repository.image[each.key].repository_url}:${local.image_tags[each.key]}"
      essential              = false
      user                   = "0"
      readonlyRootFilesystem = true
      entryPoint             = ["python", "-c", local.init_script]
      environment            = []
      secrets                = [for k, v in lookup(local.init_secrets, each.key, {}) : { name = k, valueFrom = v }]
      mountPoints            = local.task_volumes
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

  service_connect_configuration {
    enabled   = true
    namespace = aws_service_discovery_http_namespace.main.arn

    service {
      port_name      = each.key
      discovery_name = each.key

      client_alias {
        dns_name = each.key
        port     = each.value.port
      }

      timeout {
        per_request_timeout_seconds = each.value.request_timeout
      }
    }

    log_configuration {
      log_driver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.workload[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "service-connect"
      }
    }
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

  # The image carries the rendered config (upstreams auth:50051, ... and the listener on 8080);
  # the load balancer checks it (alb.tf), so the container has no health check of its own (the
  # Envoy image has no HTTP client). Envoy's tracing sends OTLP to the collector beside it on
  # 127.0.0.1:4317 (local.otlp_endpoint), which also scrapes its stats listener.
  container_definitions = jsonencode([
    {
      name                   = "gateway"
      image                  = "${aws_ecr_repository.image["gateway"].repository_url}:${local.image_tags["gateway"]}"
      essential              = true
      readonlyRootFilesystem = true
      dependsOn              = [local.otel_collector_started]
      portMappings           = [{ name = "gateway", containerPort = local.gateway_port, protocol = "tcp", appProtocol = "http2" }]
      environment            = []
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

  # A client of the namespace only: auth, tasks, ... resolve to the services' proxies.
  service_connect_configuration {
    enabled   = true
    namespace = aws_service_discovery_http_namespace.main.arn

    log_configuration {
      log_driver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.workload["gateway"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "service-connect"
      }
    }
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
