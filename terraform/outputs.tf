output "url" {
  description = "The load balancer's address (point the certificate's host name at it with a CNAME or alias record)."
  value       = "https://${aws_lb.main.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.main.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer (for a Route 53 alias record)."
  value       = aws_lb.main.zone_id
}

output "ecr_repository_urls" {
  description = "Where CI pushes each image (<url>:<commit sha>)."
  value       = { for name, repo in aws_ecr_repository.image : name => repo.repository_url }
}

output "ci_variables" {
  description = "Repository variables of the deploy workflow (.github/workflows/deploy.yml)."
  value = {
    AWS_REGION          = local.region
    AWS_DEPLOY_ROLE_ARN = one(aws_iam_role.deploy[*].arn)
    ECS_CLUSTER         = aws_ecs_cluster.main.name
    ECS_FAMILY_PREFIX   = "${local.prefix}-"
    # The gateway image's upstream addresses: <service>.<this domain>:<port> (images.py).
    SERVICE_DISCOVERY_DOMAIN = local.discovery_domain
  }
}

output "service_addresses" {
  description = "Where each service answers inside the VPC (Cloud Map DNS, mutual TLS only)."
  value       = local.service_addresses
}

output "identity_certificates_expire" {
  description = "When each service's and the gateway's certificate, and the CA, end (RFC 3339); an apply within identity_early_renewal_hours of the end issues them again."
  value = merge(
    { for name, cert in tls_locally_signed_cert.identity : name => cert.validity_end_time },
    { ca = tls_self_signed_cert.ca.validity_end_time },
  )
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "service_names" {
  description = "ECS service of each service and the gateway."
  value       = merge({ for name, svc in aws_ecs_service.service : name => svc.name }, { gateway = aws_ecs_service.gateway.name })
}

output "db_init_task_definition" {
  description = "Task definition of the db-init task (roles and schemas)."
  value       = aws_ecs_task_definition.db_init.arn
}

output "migrate_task_definitions" {
  description = "Task definition of each service's migrations (tm-<service>-migrate)."
  value       = { for name, td in aws_ecs_task_definition.migrate : name => td.arn }
}

output "jobs_network_configuration" {
  description = "--network-configuration for `aws ecs run-task` of db-init (CI runs migrations in each service's own)."
  value       = "awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.jobs.id}],assignPublicIp=DISABLED}"
}

output "files_bucket" {
  description = "The attachments bucket."
  value       = aws_s3_bucket.files.id
}

output "notify_topic_arn" {
  description = "The notification topic."
  value       = aws_sns_topic.notify.arn
}

output "db_endpoint" {
  description = "PostgreSQL endpoint (private)."
  value       = aws_db_instance.main.endpoint
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret RDS keeps the master credentials in."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "redis_endpoint" {
  description = "Redis primary endpoint (private, TLS)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "jwt_keys_secret_arn" {
  description = "Secret holding auth's signing keys (rotate here)."
  value       = aws_secretsmanager_secret.jwt_keys.arn
}

output "log_groups" {
  description = "CloudWatch log group of each workload."
  value       = { for name, group in aws_cloudwatch_log_group.workload : name => group.name }
}

output "prometheus_endpoint" {
  description = "Amazon Managed Prometheus workspace endpoint (queries: <endpoint>api/v1/query, signed with SigV4 for the aps service; Grafana's Prometheus data source with SigV4 auth)."
  value       = aws_prometheus_workspace.main.prometheus_endpoint
}

output "prometheus_workspace_id" {
  description = "The Prometheus workspace that evaluates deploy/observability/alerts.yml."
  value       = aws_prometheus_workspace.main.id
}

output "alerts_topic_arn" {
  description = "SNS topic the workspace's alert manager publishes alerts to (message attribute severity: page or ticket): subscribe the on-call tooling here."
  value       = aws_sns_topic.alerts.arn
}

output "db_proxy_endpoint" {
  description = "RDS Proxy's endpoint: the services' DATABASE_URL host (rds_proxy.tf); LISTEN, migrations and db-init use the instance."
  value       = aws_db_proxy.main.endpoint
}
