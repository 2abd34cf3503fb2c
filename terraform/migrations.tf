# One-off tasks that run before services move to new images (README, "AWS with Terraform"):
#
#   db-init            deploy/compose/db-init.sh - the very script compose runs - with psql, as the
#                      RDS master user: database settings, the extensions schema (pg_trgm), and per
#                      service a role <db_name>_<service> with the password from its
#                      <prefix>/database/<service> secret and a schema it owns. Idempotent: run it
#                      on every release (a new service gets its role) and after rotating a password.
#   <service>-migrate  the service image with entrypoint tm-<service>-migrate (Alembic, as the
#                      service's own role). On every release CI (.github/scripts/ecs_deploy.py)
#                      registers a revision of it with the new image, runs it with
#                      `aws ecs run-task` in the service's network configuration and rolls the
#                      service out only if it exited 0.
#
# Neither has a task role. db-init runs in the jobs security group (PostgreSQL and HTTPS out only).

resource "aws_ecs_task_definition" "migrate" {
  for_each = local.services

  family                   = "${local.prefix}-${each.key}-migrate"
  skip_destroy             = true # CI registers the revisions that run; keep them all
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name                   = "migrate"
      image                  = "${aws_ecr_repository.image[each.key].repository_url}:${local.image_tags[each.key]}"
      essential              = true
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      entryPoint             = ["tm-${each.key}-migrate"]
      environment = [
        { name = "DB_SCHEMA", value = each.key },
        { name = "ENVIRONMENT", value = var.environment },
        { name = "LOG_LEVEL", value = var.log_level },
      ]
      secrets = [{ name = "DATABASE_URL", valueFrom = local.service_secrets[each.key].DATABASE_URL }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload[each.key].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "migrate"
        }
      }
    },
  ])
}

resource "aws_ecs_task_definition" "db_init" {
  family                   = "${local.prefix}-db-init"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution["db-init"].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # bash may put here-documents in /tmp; the root file system is read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "db-init"
      image                  = local.db_init_image
      essential              = true
      readonlyRootFilesystem = true
      entryPoint             = ["bash", "-c"]
      command                = [file("${path.module}/../deploy/compose/db-init.sh")]
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      environment = [
        { name = "PGHOST", value = aws_db_instance.main.address },
        { name = "PGPORT", value = tostring(aws_db_instance.main.port) },
        { name = "PGUSER", value = var.db_master_username },
        { name = "PGSSLMODE", value = "require" },
        # RDS's master user has CREATEROLE but is no superuser: since PostgreSQL 16 it may create
        # a schema owned by a role it created only if it may SET ROLE to it.
        { name = "PGOPTIONS", value = "-c createrole_self_grant=set" },
        { name = "DATABASE", value = var.db_name },
        { name = "SERVICES", value = join(" ", keys(local.services)) },
      ]
      secrets = concat(
        [{ name = "PGPASSWORD", valueFrom = "${aws_db_instance.main.master_user_secret[0].secret_arn}:password::" }],
        [for svc in keys(local.services) : { name = "${upper(svc)}_DB_PASSWORD", valueFrom = "${aws_secretsmanager_secret.database[svc].arn}:password::" }],
      )
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.workload["db-init"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "db-init"
        }
      }
    },
  ])
}
