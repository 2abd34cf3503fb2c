# IAM, least privilege:
# * task roles (what the code may do), one per service: only files may use the bucket and its
#   key, only notify the topic and its key; auth, tasks and activity get no AWS permissions of
#   their own. Every service task and the gateway task may send telemetry (their collector,
#   observability.tf): remote write to this deployment's Prometheus workspace, and X-Ray segments.
#   The gateway's role has nothing else; db-init and the migrations run with no task role (no AWS
#   credentials).
# * task execution roles (what ECS does to start a task), one per workload: pull its own image,
#   write its own log group, read its own secrets.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Only ECS acting for this account (confused deputy protection).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# --- task roles ------------------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  for_each = local.services

  name               = "${local.prefix}-${each.key}-task"
  description        = "The ${each.key} service's own AWS permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# files: attachments live under files/ in the bucket (tm_files.adapters.blobs).
data "aws_iam_policy_document" "files_task" {
  # Without ListBucket on the whole bucket S3 answers 403 instead of 404 for a missing object, and
  # confirm-upload's HeadObject must tell "not uploaded (yet)" from "forbidden".
  statement {
    sid       = "ListAttachments"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.files.arn]
  }

  statement {
    sid = "ReadWriteAttachments"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.files.arn}/files/*"]
  }

  statement {
    sid       = "AttachmentsKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.files.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "files_task" {
  name   = "attachments"
  role   = aws_iam_role.task["files"].id
  policy = data.aws_iam_policy_document.files_task.json
}

# notify: publish emails, subscribe addresses (with a filter policy), and check whether a
# subscription is still pending confirmation (tm_notify.adapters.senders).
data "aws_iam_policy_document" "notify_task" {
  statement {
    sid       = "SendEmails"
    actions   = ["sns:Publish", "sns:Subscribe"]
    resources = [aws_sns_topic.notify.arn]
  }

  statement {
    sid       = "ReadSubscriptions"
    actions   = ["sns:GetSubscriptionAttributes"]
    resources = ["${aws_sns_topic.notify.arn}:*"]
  }

  statement {
    sid       = "TopicKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.notify.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "notify_task" {
  name   = "notifications"
  role   = aws_iam_role.task["notify"].id
  policy = data.aws_iam_policy_document.notify_task.json
}

# The gateway runs with no AWS permissions of its own: this role is its collector's.
resource "aws_iam_role" "gateway_task" {
  name               = "${local.prefix}-gateway-task"
  description        = "The gateway task's telemetry collector: metrics and traces only"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Every task's collector (otel-collector.yaml): Prometheus remote write to this workspace only,
# and traces to X-Ray.
data "aws_iam_policy_document" "telemetry" {
  statement {
    sid       = "RemoteWriteMetrics"
    actions   = ["aps:RemoteWrite"]
    resources = [aws_prometheus_workspace.main.arn]
  }

  # X-Ray's segment and telemetry uploads have no resource-level permissions: "*" is the only form.
  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "telemetry" {
  for_each = toset(concat(keys(local.services), ["gateway"]))

  name   = "telemetry"
  role   = each.key == "gateway" ? aws_iam_role.gateway_task.id : aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.telemetry.json
}

# --- task execution roles ------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  for_each = local.workloads

  name               = "${local.prefix}-${each.key}-execution"
  description        = "ECS starting ${each.key} tasks: image, logs, secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.workloads

  # Registry login; the action has no resource-level permissions.
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = contains(local.images, each.key) ? [aws_ecr_repository.image[each.key].arn] : []

    content {
      sid       = "PullOwnImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.workload[each.key].arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.workload_secret_arns[each.key]) > 0 ? [local.workload_secret_arns[each.key]] : []

    content {
      sid       = "ReadOwnSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }

  # DATABASE_URL through RDS Proxy (rds_proxy.tf), a secret of each service's own.
  dynamic "statement" {
    for_each = contains(keys(local.services), each.key) ? [aws_secretsmanager_secret.database_proxy[each.key].arn] : []

    content {
      sid       = "ReadOwnProxySecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = length(local.workload_secret_arns[each.key]) > 0 ? [aws_kms_key.data.arn] : []

    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.workloads

  name   = "start-tasks"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

# --- RDS Proxy -----------------------------------------------------------------------------------
# The proxy reads each service role's credentials (username and password keys of its database
# secret) to log in to the database for it (rds_proxy.tf).

data "aws_iam_policy_document" "rds_proxy_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_proxy" {
  name               = "${local.prefix}-rds-proxy"
  description        = "RDS Proxy reading the service roles' database secrets"
  assume_role_policy = data.aws_iam_policy_document.rds_proxy_assume.json
}

data "aws_iam_policy_document" "rds_proxy" {
  statement {
    sid       = "ReadServiceRoleSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for secret in aws_secretsmanager_secret.database : secret.arn]
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "rds_proxy" {
  name   = "read-database-secrets"
  role   = aws_iam_role.rds_proxy.id
  policy = data.aws_iam_policy_document.rds_proxy.json
}
