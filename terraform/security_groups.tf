# Who may talk to whom. Internet -> ALB :443 (nothing on :80) -> gateway :8080 -> services :50051-50055
# (task to task, mutual TLS: identity.tf) -> Postgres :5432, Redis :6379. Every task may call AWS
# APIs on 443 (NAT; S3 through the gateway endpoint). Nothing else is open: not the services'
# plaintext health port (HEALTH_PORT, probed on 127.0.0.1 inside the task) nor their metrics port
# (scraped by the collector in the same task).

locals {
  service_port_min = min(local.service_ports...)
  service_port_max = max(local.service_ports...)
}

resource "aws_security_group" "alb" {
  name        = "${local.prefix}-alb"
  description = "Public load balancer of the Task Manager gateway"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-alb" }
}

resource "aws_security_group" "gateway" {
  name        = "${local.prefix}-gateway"
  description = "Envoy gateway tasks"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-gateway" }
}

resource "aws_security_group" "services" {
  name        = "${local.prefix}-services"
  description = "gRPC service tasks (auth, tasks, files, activity, notify)"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-services" }
}

resource "aws_security_group" "jobs" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: CI passes it to `aws ecs run-task` for db-init and the migrations (output jobs_network_configuration).
  name        = "${local.prefix}-jobs"
  description = "One-off tasks: db-init and the migrations"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-jobs" }
}

resource "aws_security_group" "db" {
  name        = "${local.prefix}-db"
  description = "RDS PostgreSQL"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-db" }
}

resource "aws_security_group" "db_proxy" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS Proxy (aws_db_proxy.main vpc_security_group_ids), which checkov does not follow.
  name        = "${local.prefix}-db-proxy"
  description = "RDS Proxy in front of PostgreSQL (rds_proxy.tf)"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-db-proxy" }
}

resource "aws_security_group" "redis" {
  name        = "${local.prefix}-redis"
  description = "ElastiCache Redis"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.prefix}-redis" }
}

# --- load balancer -------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_gateway" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to Envoy"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = local.gateway_port
  to_port                      = local.gateway_port
}

# --- gateway -------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "gateway_from_alb" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "Envoy listener, from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.gateway_port
  to_port                      = local.gateway_port
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_services" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "gRPC to the services"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = local.service_port_min
  to_port                      = local.service_port_max
}

# --- services ------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "services_from_gateway" {
  security_group_id            = aws_security_group.services.id
  description                  = "gRPC from the gateway"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = local.service_port_min
  to_port                      = local.service_port_max
}

resource "aws_vpc_security_group_ingress_rule" "services_from_services" {
  security_group_id            = aws_security_group.services.id
  description                  = "gRPC between services (JWKS, task access, user directory, health)"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = local.service_port_min
  to_port                      = local.service_port_max
}

resource "aws_vpc_security_group_egress_rule" "services_to_services" {
  security_group_id            = aws_security_group.services.id
  description                  = "gRPC between services"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = local.service_port_min
  to_port                      = local.service_port_max
}

resource "aws_vpc_security_group_egress_rule" "services_to_db" {
  security_group_id            = aws_security_group.services.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "services_to_db_proxy" {
  security_group_id            = aws_security_group.services.id
  description                  = "PostgreSQL through RDS Proxy (the pools)"
  referenced_security_group_id = aws_security_group.db_proxy.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "services_to_redis" {
  security_group_id            = aws_security_group.services.id
  description                  = "Redis"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_egress_rule" "jobs_to_db" {
  security_group_id            = aws_security_group.jobs.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# AWS APIs over HTTPS (ECR, CloudWatch Logs, Secrets Manager, SNS, S3) and image pulls, through
# NAT: Fargate pulls images and fetches secrets through the task's own network interface.
resource "aws_vpc_security_group_egress_rule" "https_out" {
  for_each = {
    gateway  = aws_security_group.gateway.id
    services = aws_security_group.services.id
    jobs     = aws_security_group.jobs.id
  }

  security_group_id = each.value
  description       = "HTTPS to AWS APIs and registries"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# --- data stores ---------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  for_each = {
    services = aws_security_group.services.id
    jobs     = aws_security_group.jobs.id
  }

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the ${each.key} tasks"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "db_proxy_from_services" {
  security_group_id            = aws_security_group.db_proxy.id
  description                  = "PostgreSQL from the services' pools"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "db_proxy_to_db" {
  security_group_id            = aws_security_group.db_proxy.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "db_from_proxy" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from RDS Proxy"
  referenced_security_group_id = aws_security_group.db_proxy.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_services" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the services"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
