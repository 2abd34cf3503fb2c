# The topic the notify service sends emails through: one email subscription per verified user,
# each with a filter policy on its user id (README, notify). Encrypted with the notify key; only
# the notify task role may publish or subscribe (the account's IAM policies still manage it).
resource "aws_sns_topic" "notify" {
  name              = "${local.prefix}-notify"
  display_name      = "Task Manager"
  kms_master_key_id = aws_kms_key.notify.arn
}

data "aws_iam_policy_document" "notify_topic" {
  statement {
    sid       = "OnlyTheNotifyServicePublishesAndSubscribes"
    effect    = "Deny"
    actions   = ["sns:Publish", "sns:Subscribe"]
    resources = [aws_sns_topic.notify.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.task["notify"].arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish", "sns:Subscribe"]
    resources = [aws_sns_topic.notify.arn]

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

resource "aws_sns_topic_policy" "notify" {
  arn    = aws_sns_topic.notify.arn
  policy = data.aws_iam_policy_document.notify_topic.json
}
