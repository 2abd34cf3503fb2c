data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The zones by name, so the set never changes under the subnets when AWS adds or impairs a zone;
# the plan fails if one of them does not exist or is not available here.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = local.azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(local.azs)
      error_message = "Not every zone of ${join(", ", local.azs)} is available in this region: set availability_zones."
    }
  }
}

locals {
  prefix     = "${var.name}-${var.environment}"
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = var.availability_zones != null ? var.availability_zones : ["${var.region}a", "${var.region}b"]

  # The services, as libs/devstack/tm_devstack/services.py lists them (tests/deploy/test_terraform.py
  # checks that they agree), and their gRPC ports.
  services = {
    auth     = { port = 50051 }
    tasks    = { port = 50052 }
    files    = { port = 50053 }
    activity = { port = 50054 }
    notify   = { port = 50055 }
  }
  service_ports = [for svc in values(local.services) : svc.port]

  # Envoy listens on 8080 inside its container (gateway/Dockerfile).
  gateway_port = 8080

  # Telemetry inside each task (observability.tf): the services serve Prometheus text on
  # METRICS_PORT at /metrics, Envoy its stats on GATEWAY_STATS_PORT (gateway/Dockerfile) at
  # /stats/prometheus; the task's collector takes OTLP gRPC on loopback. 127.0.0.1, not localhost:
  # localhost may resolve to ::1 first, where nothing listens.
  metrics_port       = 9464
  gateway_stats_port = 9902
  otlp_endpoint      = "127.0.0.1:4317"

  # One ECR repository per image; one log group and one task execution role per workload.
  images    = toset(concat(keys(local.services), ["gateway"]))
  workloads = toset(concat(keys(local.services), ["gateway", "db-init"]))

  image_tags    = { for name in local.images : name => lookup(var.image_tags, name, var.image_tag) }
  app_versions  = { for name, tag in local.image_tags : name => coalesce(var.app_version, tag) }
  db_init_image = coalesce(var.db_init_image, "public.ecr.aws/docker/library/postgres:${split(".", var.db_engine_version)[0]}")

  # The image's one writable directory (DATA_DIR), a task volume here (see ecs.tf: the read-only
  # root file system).
  data_dir = "/var/lib/taskmanager"

  # --- configuration (README, Configuration; docker-compose.yml) ---------------------------------
  # Peers are reached by their Cloud Map names (identity.tf), auth.<discovery domain>:50051, ...,
  # over mTLS with the task's own identity (written by its init container, ecs.tf); the gateway
  # image is built with the same addresses (.github/scripts/images.py).
  service_common_env = {
    GRPC_HOST         = "0.0.0.0"
    ENVIRONMENT       = var.environment
    LOG_LEVEL         = var.log_level
    JWT_ISSUER        = var.jwt_issuer
    JWT_AUDIENCE      = var.jwt_audience
    AUTH_ADDRESS      = local.service_addresses["auth"]
    METRICS_PORT      = local.metrics_port
    SERVICE_ADDRESSES = join(",", [for name, address in local.service_addresses : "${name}=${address}"])
    TLS_CA_FILE       = "${local.tls_dir}/ca.crt"
    TLS_CERT_FILE     = "${local.tls_dir}/tls.crt"
    TLS_KEY_FILE      = "${local.tls_dir}/tls.key"
    HEALTH_PORT       = local.health_port
  }

  service_env = {
    auth = {
      GRPC_PORT        = local.services.auth.port
      DB_SCHEMA        = "auth"
      JWT_KEYS_DIR     = "${local.data_dir}/jwt"
      JWT_GENERATE_KEY = "false" # keys come from Secrets Manager (the init container writes them)
    }
    tasks = {
      GRPC_PORT = local.services.tasks.port
      DB_SCHEMA = "tasks"
    }
    files = {
      GRPC_PORT     = local.services.files.port
      DB_SCHEMA     = "files"
      TASKS_ADDRESS = local.service_addresses["tasks"]
      DATA_DIR      = local.data_dir
      BLOB_STORE    = "s3"
      S3_BUCKET     = aws_s3_bucket.files.id
      S3_REGION     = local.region
      # No SSE header on any request, presigned uploads included: the bucket's default encryption
      # (SSE-KMS with the files key, storage.tf) applies to every object.
      S3_SERVER_SIDE_ENCRYPTION = ""
    }
    activity = {
      GRPC_PORT = local.services.activity.port
      DB_SCHEMA = "activity"
    }
    notify = {
      GRPC_PORT     = local.services.notify.port
      DB_SCHEMA     = "notify"
      SNS_TOPIC_ARN = aws_sns_topic.notify.arn
      SNS_REGION    = local.region
    }
  }

  # Injected by ECS from Secrets Manager (secrets.tf) at task start, never in the task definition.
  # "<secret arn>:<json key>::" picks one key of a JSON secret.
  service_secrets = {
    auth = {
      DATABASE_URL = "${aws_secretsmanager_secret.database["auth"].arn}:url::"
      REDIS_URL    = "${aws_secretsmanager_secret.redis.arn}:url::"
    }
    tasks = {
      DATABASE_URL      = "${aws_secretsmanager_secret.database["tasks"].arn}:url::"
      REDIS_URL         = "${aws_secretsmanager_secret.redis.arn}:url::"
      PAGE_TOKEN_SECRET = aws_secretsmanager_secret.page_token.arn
    }
    files = {
      DATABASE_URL      = "${aws_secretsmanager_secret.database["files"].arn}:url::"
      REDIS_URL         = "${aws_secretsmanager_secret.redis.arn}:url::"
      PAGE_TOKEN_SECRET = aws_secretsmanager_secret.page_token.arn
    }
    activity = {
      DATABASE_URL      = "${aws_secretsmanager_secret.database["activity"].arn}:url::"
      REDIS_URL         = "${aws_secretsmanager_secret.redis.arn}:url::"
      PAGE_TOKEN_SECRET = aws_secretsmanager_secret.page_token.arn
    }
    notify = {
      DATABASE_URL       = "${aws_secretsmanager_secret.database["notify"].arn}:url::"
      REDIS_URL          = "${aws_secretsmanager_secret.redis.arn}:url::"
      NOTIFY_CODE_SECRET = aws_secretsmanager_secret.notify_code.arn
    }
  }

  # Secrets of a service's init container (ecs.tf), which writes them to files, beside its
  # identity (local.identity_secrets): auth's signing keys, as JSON {"<file name>.pem": "<PEM>", ...}.
  init_secrets = {
    auth = {
      JWT_SIGNING_KEYS = aws_secretsmanager_secret.jwt_keys.arn
    }
  }

  # Every secret each workload's execution role may read (iam.tf): a service's and the gateway's
  # own identity (identity.tf), never another's.
  workload_secret_arns = {
    auth      = [aws_secretsmanager_secret.database["auth"].arn, aws_secretsmanager_secret.redis.arn, aws_secretsmanager_secret.jwt_keys.arn, aws_secretsmanager_secret.identity["auth"].arn]
    tasks     = [aws_secretsmanager_secret.database["tasks"].arn, aws_secretsmanager_secret.redis.arn, aws_secretsmanager_secret.page_token.arn, aws_secretsmanager_secret.identity["tasks"].arn]
    files     = [aws_secretsmanager_secret.database["files"].arn, aws_secretsmanager_secret.redis.arn, aws_secretsmanager_secret.page_token.arn, aws_secretsmanager_secret.identity["files"].arn]
    activity  = [aws_secretsmanager_secret.database["activity"].arn, aws_secretsmanager_secret.redis.arn, aws_secretsmanager_secret.page_token.arn, aws_secretsmanager_secret.identity["activity"].arn]
    notify    = [aws_secretsmanager_secret.database["notify"].arn, aws_secretsmanager_secret.redis.arn, aws_secretsmanager_secret.notify_code.arn, aws_secretsmanager_secret.identity["notify"].arn]
    gateway   = [aws_secretsmanager_secret.identity["gateway"].arn]
    "db-init" = concat([aws_db_instance.main.master_user_secret[0].secret_arn], [for svc in keys(local.services) : aws_secretsmanager_secret.database[svc].arn])
  }
}
