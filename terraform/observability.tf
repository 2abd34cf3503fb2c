# Metrics, traces and alerts on AWS (README, Observability). Every service task and the gateway
# task runs an AWS Distro for OpenTelemetry collector beside its main container (ecs.tf), which
# * scrapes the task's Prometheus endpoint (a service's METRICS_PORT /metrics, Envoy's stats
#   listener /stats/prometheus) and remote-writes to the Amazon Managed Prometheus workspace below,
#   under the job names deploy/observability/alerts.yml expects (auth, ..., gateway);
# * receives the task's spans over OTLP gRPC on 127.0.0.1:4317 and sends them to AWS X-Ray.
# The workspace evaluates deploy/observability/alerts.yml itself (the very file promtool tests)
# and its alert manager publishes to the alerts topic.

resource "aws_cloudwatch_log_group" "prometheus" {
  # /aws/vendedlogs/: the prefix AWS recommends for logs services deliver (resource policy size).
  name              = "/aws/vendedlogs/prometheus/${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_prometheus_workspace" "main" {
  alias       = local.prefix
  kms_key_arn = aws_kms_key.observability.arn

  # Rule evaluation and alert manager errors (a rule AMP rejects, a topic it cannot publish to).
  logging_configuration {
    log_group_arn = "${aws_cloudwatch_log_group.prometheus.arn}:*"
  }
}

locals {
  prometheus_remote_write_url = "${aws_prometheus_workspace.main.prometheus_endpoint}api/v1/remote_write"

  # What each task's collector scrapes: job (the alerts' job label), port and path.
  metrics_targets = merge(
    { for name in keys(local.services) : name => { port = local.metrics_port, path = "/metrics" } },
    { gateway = { port = local.gateway_stats_port, path = "/stats/prometheus" } },
  )

  # The collector's configuration per task, passed in AOT_CONFIG_CONTENT.
  otel_collector_config = {
    for name, target in local.metrics_targets : name => templatefile("${path.module}/otel-collector.yaml", {
      region           = local.region
      job              = name
      metrics_port     = target.port
      metrics_path     = target.path
      scrape_interval  = var.metrics_scrape_interval
      otlp_endpoint    = local.otlp_endpoint
      remote_write_url = local.prometheus_remote_write_url
    })
  }

  # The standard OpenTelemetry SDK variables of every service container.
  otel_env = {
    for name in keys(local.services) : name => {
      OTEL_EXPORTER_OTLP_ENDPOINT = "http://${local.otlp_endpoint}"
      OTEL_SERVICE_NAME           = name
    }
  }
}

# The same rules Prometheus runs everywhere else: the file itself, not a copy.
resource "aws_prometheus_rule_group_namespace" "alerts" {
  name         = "taskmanager"
  workspace_id = aws_prometheus_workspace.main.id
  data         = file("${path.module}/../deploy/observability/alerts.yml")
}

resource "aws_prometheus_alert_manager_definition" "main" {
  workspace_id = aws_prometheus_workspace.main.id
  definition = templatefile("${path.module}/alertmanager.yaml", {
    topic_arn = aws_sns_topic.alerts.arn
    region    = local.region
  })

  depends_on = [aws_sns_topic_policy.alerts]
}

# --- where alerts go -----------------------------------------------------------------------------
# Not the notify topic: that one carries users' emails, and only the notify service may publish.

resource "aws_sns_topic" "alerts" {
  name              = "${local.prefix}-alerts"
  display_name      = "Task Manager alerts"
  kms_master_key_id = aws_kms_key.observability.arn
}

data "aws_iam_policy_document" "alerts_topic" {
  # Only this workspace's alert manager publishes (confused deputy protection).
  statement {
    sid       = "AlertManagerPublishes"
    actions   = ["sns:Publish", "sns:GetTopicAttributes"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["aps.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_prometheus_workspace.main.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish", "sns:Subscribe"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

resource "aws_sns_topic_subscription" "alert_email" {
  for_each = toset(var.alert_email_addresses)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}
