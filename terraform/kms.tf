# Customer managed keys, one per purpose, so that a grant on one never opens another's data:
#   logs   - CloudWatch log groups (the Logs service encrypts with it)
#   data   - RDS storage, Performance Insights, Secrets Manager secrets, ElastiCache, ECR
#   files  - the attachments bucket (only the files task role may use it)
#   notify - the SNS topic (only the notify task role may use it)
#   observability - the Prometheus workspace and the alerts topic (its alert manager publishes)
# Key policies keep the account's IAM in charge ("Enable IAM policies"); iam.tf grants the use.

data "aws_iam_policy_document" "kms_account" {
  #checkov:skip=CKV_AWS_109:Key policy, not an identity policy: this is AWS's default key policy statement, which hands the key to the account's IAM policies (without it the key becomes unmanageable); "*" is the key itself.
  #checkov:skip=CKV_AWS_111:Key policy: the resource "*" is the key itself, and the principal is the account, whose IAM policies (iam.tf) grant each role exactly what it uses.
  #checkov:skip=CKV_AWS_356:Key policy: in a key policy the only possible resource is the key itself, written "*".
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

data "aws_iam_policy_document" "kms_logs" {
  source_policy_documents = [data.aws_iam_policy_document.kms_account.json]

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # ElastiCache delivers its slow log to a log group encrypted with this key.
  statement {
    sid       = "LogDelivery"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "${local.prefix}: CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_logs.json
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.prefix}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_kms_key" "data" {
  description             = "${local.prefix}: RDS, ElastiCache, Secrets Manager, ECR"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_account.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_kms_key" "files" {
  description             = "${local.prefix}: attachments bucket"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_account.json
}

resource "aws_kms_alias" "files" {
  name          = "alias/${local.prefix}-files"
  target_key_id = aws_kms_key.files.key_id
}

resource "aws_kms_key" "notify" {
  description             = "${local.prefix}: notification topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_account.json
}

resource "aws_kms_alias" "notify" {
  name          = "alias/${local.prefix}-notify"
  target_key_id = aws_kms_key.notify.key_id
}

# Amazon Managed Prometheus encrypts the workspace through grants it creates for whoever creates
# the workspace (the account's IAM, above); its alert manager publishes to the alerts topic,
# which SNS encrypts with this key on its behalf.
data "aws_iam_policy_document" "kms_observability" {
  #checkov:skip=CKV_AWS_111:Key policy: the resource "*" is this key, and the principal is the Prometheus service alone, as AWS documents for alert manager topics encrypted with a customer managed key.
  #checkov:skip=CKV_AWS_356:Key policy: in a key policy the only possible resource is the key itself, written "*".
  source_policy_documents = [data.aws_iam_policy_document.kms_account.json]

  statement {
    sid       = "AlertManagerPublishesToTheAlertsTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["aps.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "observability" {
  description             = "${local.prefix}: Prometheus workspace, alerts topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_observability.json
}

resource "aws_kms_alias" "observability" {
  name          = "alias/${local.prefix}-observability"
  target_key_id = aws_kms_key.observability.key_id
}
