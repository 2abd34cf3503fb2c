# --- where and what ----------------------------------------------------------------------------

variable "region" {
  description = "AWS region to deploy into."
  type        = string
}

variable "name" {
  description = "Name prefix of every resource (with the environment: <name>-<environment>)."
  type        = string
  default     = "taskmanager"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.name))
    error_message = "name: 2-12 lowercase letters and digits (target group names are limited to 32 characters)."
  }
}

variable "environment" {
  description = "Environment name (production, staging, ...): part of every name, reported by /version."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment: 2-10 lowercase letters and digits."
  }
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose deploy workflow (.github/workflows/deploy.yml) may assume the deploy role (OpenID Connect). Null: no deploy role."
  type        = string
  default     = null
}

variable "github_environment" {
  description = "GitHub environment the deploy jobs run in; only its jobs may assume the deploy role."
  type        = string
  default     = "production"
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing token.actions.githubusercontent.com OIDC provider; null creates one (an account holds only one)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- network -----------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC; split into one public and one private /20 per availability zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Names of the availability zones to spread subnets, tasks, the database and Redis over (2 or 3). Default: the region's zones a and b."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null ? true : length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3
    error_message = "availability_zones: 2 or 3 zones (RDS and ElastiCache subnet groups need two)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; egress then depends on one zone) instead of one per zone."
  type        = bool
  default     = false
}

variable "ingress_cidrs" {
  description = "Client address ranges allowed to reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# --- load balancer -------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate of the public host name, for the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "gateway_protocol_version" {
  description = "How the load balancer talks to Envoy for JSON requests: HTTP2 (end-to-end HTTP/2; clients must use HTTP/2, which browsers and curl do over TLS) or HTTP1 (also serves HTTP/1.1-only clients). gRPC requests always use the GRPC target group."
  type        = string
  default     = "HTTP2"

  validation {
    condition     = contains(["HTTP1", "HTTP2"], var.gateway_protocol_version)
    error_message = "gateway_protocol_version: HTTP1 or HTTP2."
  }
}

variable "alb_deletion_protection" {
  description = "Deletion protection of the load balancer."
  type        = bool
  default     = true
}

# --- images and services -----------------------------------------------------------------------

variable "image_tag" {
  description = "Image tag (a commit SHA: ECR tags are immutable) in the task definition revisions Terraform registers: the first deployment, and revisions after a configuration change. Releases do not go through Terraform: CI (.github/scripts/ecs_deploy.py) registers revisions with the image it deploys and rolls the services to them. Set this to the SHA deployed last."
  type        = string
}

variable "image_tags" {
  description = "Per-image tags that override image_tag (keys among auth, tasks, files, activity, notify, gateway): a service deployed alone at a tag of its own keeps it in the revisions Terraform registers; the others run image_tag."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.image_tags) : contains(["auth", "tasks", "files", "activity", "notify", "gateway"], name)])
    error_message = "image_tags keys are image names: auth, tasks, files, activity, notify, gateway."
  }
}

variable "app_version" {
  description = "APP_VERSION reported by /version; defaults to each service's image tag."
  type        = string
  default     = null
}

variable "log_level" {
  description = "LOG_LEVEL of every service."
  type        = string
  default     = "INFO"
}

variable "jwt_issuer" {
  description = "JWT_ISSUER (must match the gateway image's build argument)."
  type        = string
  default     = "taskmanager-auth"
}

variable "jwt_audience" {
  description = "JWT_AUDIENCE (must match the gateway image's build argument)."
  type        = string
  default     = "taskmanager"
}

variable "task_sizes" {
  description = "Fargate CPU units, memory (MiB) and task counts (auto scaling between min and max on CPU) of each service and the gateway. CPU and memory are the whole task's, the telemetry collector's share (otel_collector_cpu, otel_collector_memory) included."
  type = map(object({
    cpu       = number
    memory    = number
    min_count = number
    max_count = number
  }))
  default = {
    auth     = { cpu = 512, memory = 1024, min_count = 2, max_count = 6 }
    tasks    = { cpu = 1024, memory = 2048, min_count = 2, max_count = 8 }
    files    = { cpu = 512, memory = 1024, min_count = 2, max_count = 4 }
    activity = { cpu = 256, memory = 1024, min_count = 2, max_count = 4 }
    notify   = { cpu = 256, memory = 1024, min_count = 2, max_count = 4 }
    gateway  = { cpu = 512, memory = 1024, min_count = 2, max_count = 6 }
  }

  # Cloud Map answers a multivalue query with at most 8 healthy records (identity.tf): beyond 8
  # tasks a client would see a random 8 of them per lookup, not all.
  validation {
    condition     = alltrue([for name, size in var.task_sizes : name == "gateway" || size.max_count <= 8])
    error_message = "task_sizes: a service's max_count is at most 8 (the records one DNS answer holds)."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation the auto scaling of every service aims at."
  type        = number
  default     = 60
}

variable "extra_environment" {
  description = "Extra environment variables per service (README, Configuration), e.g. { auth = { ACCESS_TOKEN_TTL_SECONDS = \"600\" } }. Never secrets."
  type        = map(map(string))
  default     = {}
}

# --- service identity (identity.tf) -----------------------------------------------------------------

variable "service_discovery_domain" {
  description = "Private DNS namespace (Cloud Map) the services are registered in, as <service>.<domain>. Null: <name>-<environment>.internal. The gateway image is built with these addresses (the deploy workflow's SERVICE_DISCOVERY_DOMAIN, output ci_variables)."
  type        = string
  default     = null

  validation {
    condition     = var.service_discovery_domain == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.service_discovery_domain))
    error_message = "service_discovery_domain: a DNS name of at least two labels (lowercase letters, digits, hyphens), e.g. taskmanager.internal."
  }
}

variable "identity_validity_hours" {
  description = "Validity of each service's and the gateway's certificate (identity.tf)."
  type        = number
  default     = 8760 # 1 year
}

variable "identity_early_renewal_hours" {
  description = "A terraform apply this long before a certificate ends issues it again (and redeploys its ECS service)."
  type        = number
  default     = 720 # 30 days

  validation {
    condition     = var.identity_early_renewal_hours > 0 && var.identity_early_renewal_hours < var.identity_validity_hours
    error_message = "identity_early_renewal_hours: more than 0 and less than identity_validity_hours."
  }
}

variable "identity_ca_validity_hours" {
  description = "Validity of the service identity CA (identity.tf). Replacing it re-issues every certificate and redeploys everything."
  type        = number
  default     = 87600 # 10 years
}

variable "identity_ca_early_renewal_hours" {
  description = "A terraform apply this long before the CA ends replaces it (and every certificate)."
  type        = number
  default     = 8760 # 1 year

  validation {
    condition     = var.identity_ca_early_renewal_hours > 0 && var.identity_ca_early_renewal_hours < var.identity_ca_validity_hours
    error_message = "identity_ca_early_renewal_hours: more than 0 and less than identity_ca_validity_hours."
  }
}

# --- metrics, traces, alerts (observability.tf) --------------------------------------------------

variable "otel_collector_version" {
  description = "Tag of the AWS Distro for OpenTelemetry collector image (public.ecr.aws/aws-observability/aws-otel-collector) run beside every service and the gateway."
  type        = string
  default     = "v0.45.1"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.otel_collector_version))
    error_message = "otel_collector_version: an exact release tag such as v0.45.1 (never latest)."
  }
}

variable "otel_collector_cpu" {
  description = "CPU units reserved for the collector in each task (out of the task's task_sizes cpu; a share, not a cap)."
  type        = number
  default     = 64
}

variable "otel_collector_memory" {
  description = "Memory (MiB) of the collector in each task: a hard limit, out of the task's task_sizes memory (its memory_limiter keeps it under 80%)."
  type        = number
  default     = 256
}

variable "metrics_scrape_interval" {
  description = "How often each task's collector scrapes its service (or Envoy) for Amazon Managed Prometheus, as the Kubernetes PodMonitor does."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^[1-9][0-9]*[sm]$", var.metrics_scrape_interval))
    error_message = "metrics_scrape_interval: seconds or minutes, e.g. 30s or 1m."
  }
}

variable "alert_email_addresses" {
  description = "Addresses subscribed to the alerts topic (each confirms by email). Subscribe a pager or chat integration to the output alerts_topic_arn instead or as well; alerts carry a severity message attribute (page or ticket) to filter on."
  type        = list(string)
  default     = []
}

# --- PostgreSQL ----------------------------------------------------------------------------------

variable "db_engine_version" {
  description = "RDS PostgreSQL version (major, or major.minor). The db-init task uses the psql of the same major."
  type        = string
  default     = "17"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_max_connections" {
  description = "DB_MAX_CONNECTIONS of every service task: all the Postgres connections one process may open, its two pools and two LISTEN connections (README, Connection budget)."
  type        = number
  default     = 10

  validation {
    condition     = var.db_max_connections >= 4
    error_message = "db_max_connections must be at least 4 (one per pool and two for LISTEN)."
  }
}

variable "db_proxy_max_connections_percent" {
  description = "The share (%) of the database's max_connections that RDS Proxy may open; the rest is for the tasks' LISTEN connections, the migrations, db-init and operators."
  type        = number
  default     = 60

  validation {
    condition     = var.db_proxy_max_connections_percent >= 10 && var.db_proxy_max_connections_percent <= 90
    error_message = "db_proxy_max_connections_percent must be between 10 and 90."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage (GiB)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 200
}

variable "db_multi_az" {
  description = "A standby in another zone (automatic failover)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backups (point-in-time recovery) kept this many days."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  description = "Deletion protection of the database."
  type        = bool
  default     = true
}

variable "db_name" {
  description = "The database; service roles are <db_name>_<service> (deploy/compose/db-init.sh)."
  type        = string
  default     = "taskmanager"
}

variable "db_master_username" {
  description = "Master user (its password is generated and rotated by RDS in Secrets Manager); only the db-init task uses it."
  type        = string
  default     = "tm_admin"
}

variable "db_init_image" {
  description = "Image with bash and psql for the db-init task; defaults to the official postgres image of db_engine_version's major on ECR Public (pin a digest in production)."
  type        = string
  default     = null
}

# --- Redis ---------------------------------------------------------------------------------------

variable "redis_engine_version" {
  description = "ElastiCache Redis OSS version (streams with XAUTOCLAIM need 6.2 or later)."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type. Streams keep up to EVENTS_STREAM_MAX_LENGTH entries each: size memory for that."
  type        = string
  default     = "cache.t4g.medium"
}

variable "redis_replicas" {
  description = "Replicas besides the primary, in other zones (automatic failover needs at least one)."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas >= 1 && var.redis_replicas <= 5
    error_message = "redis_replicas: 1 to 5 (automatic failover and Multi-AZ are always on)."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Daily Redis snapshots kept this many days."
  type        = number
  default     = 7
}

# --- files, logs, keys ---------------------------------------------------------------------------

variable "files_noncurrent_version_days" {
  description = "Days an overwritten or deleted attachment stays recoverable (S3 noncurrent versions) before it is gone for good."
  type        = number
  default     = 30
}

variable "files_cors_allowed_origins" {
  description = "Web origins allowed to PUT/GET attachments directly with presigned URLs (browser uploads). Empty: no CORS rule."
  type        = list(string)
  default     = []
}

variable "access_log_retention_days" {
  description = "Days the load balancer's and the files bucket's access logs are kept in S3."
  type        = number
  default     = 365
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of every log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the values CloudWatch Logs accepts."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled KMS key deletion."
  type        = number
  default     = 30
}

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager secret can be restored."
  type        = number
  default     = 30
}
