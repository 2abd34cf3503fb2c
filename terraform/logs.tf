# CloudWatch log groups, all with a retention and encrypted with the logs key. One group per
# workload: its service (stream prefix "service"), its init container ("init"), its Service
# Connect proxy ("service-connect") and its migrations ("migrate").
resource "aws_cloudwatch_log_group" "workload" {
  for_each = local.workloads

  name              = "/${var.name}/${var.environment}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/${var.name}/${var.environment}/vpc-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_cloudwatch_log_group" "redis" {
  name              = "/${var.name}/${var.environment}/redis-slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

# Created here (not by RDS on first export) so that it has a retention and the logs key.
resource "aws_cloudwatch_log_group" "rds" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${local.prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}
