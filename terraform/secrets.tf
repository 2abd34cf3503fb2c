# Secrets Manager, encrypted with the data key. ECS injects them into the containers at start
# (task definitions carry only their ARNs); only each workload's execution role may read its own.
#   <prefix>/database/<service>  {"username", "password", "url"}  DATABASE_URL of the service's role;
#                                the db-init task sets the role's password from "password"
#   <prefix>/redis               {"auth_token", "url"}            REDIS_URL (TLS, auth token)
#   <prefix>/jwt-signing-keys    {"<file>.pem": "<PEM>", ...}     auth's JWT_KEYS_DIR
#   <prefix>/notify-code-secret  string                           NOTIFY_CODE_SECRET
#   <prefix>/page-token-secret   string                           PAGE_TOKEN_SECRET (tasks, files, activity)
#   (RDS keeps the master user's own secret, rotated by RDS.)
# The generated values are also in the Terraform state: keep the state encrypted and private.

resource "random_password" "database" {
  for_each = local.services

  length  = 40
  special = false # they go into DATABASE_URL as they are (URL-safe, as compose requires)
}

resource "random_password" "redis_auth" {
  length  = 64
  special = false # ElastiCache auth tokens: printable ASCII without @, " and /; kept URL-safe
}

resource "random_password" "notify_code" {
  length  = 48
  special = false
}

resource "random_password" "page_token" {
  length  = 48
  special = false
}

# The first signing key. Rotation (README, Security model): put a new key beside it in the
# secret, under a file name that sorts last, and redeploy auth (its init container writes the keys
# when a task starts); a new task publishes the new key at once and signs with it
# JWT_KEY_ACTIVATION_SECONDS (300 s) after writing it, so finish the rollout well within that.
# Remove the old one after the token lifetime. Terraform does not overwrite keys changed that way.
resource "tls_private_key" "jwt" {
  algorithm = "ED25519"
}

resource "aws_secretsmanager_secret" "database" {
  for_each = local.services

  #checkov:skip=CKV2_AWS_57:Service role passwords are rotated by changing random_password (terraform apply -replace) and re-running db-init, which re-sets every role's password; a rotation Lambda would have to do the same with the master credentials. The master password itself is rotated by RDS.
  name                    = "${local.prefix}/database/${each.key}"
  description             = "DATABASE_URL of the ${each.key} service (role ${var.db_name}_${each.key})"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "database" {
  for_each = local.services

  secret_id = aws_secretsmanager_secret.database[each.key].id
  secret_string = jsonencode({
    username = "${var.db_name}_${each.key}"
    password = random_password.database[each.key].result
    # TLS without certificate verification (the image has no RDS CA bundle); the network path is
    # private and the database's security group admits only the tasks.
    url = "postgresql+psycopg://${var.db_name}_${each.key}:${random_password.database[each.key].result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${var.db_name}?sslmode=require"
  })
}

resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:The Redis auth token is rotated with ElastiCache's ROTATE strategy (change random_password, apply, redeploy the services, then SET); a Lambda cannot do that without downtime.
  name                    = "${local.prefix}/redis"
  description             = "REDIS_URL of every service (TLS and auth token)"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({
    auth_token = random_password.redis_auth.result
    url        = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0"
  })
}

resource "aws_secretsmanager_secret" "jwt_keys" {
  #checkov:skip=CKV2_AWS_57:Signing keys are rotated by adding a key and removing the old one after the token lifetime (README, Security model); automatic replacement would invalidate every token at once.
  name                    = "${local.prefix}/jwt-signing-keys"
  description             = "Auth's JWT signing keys: JSON {file name: PEM}; the last by name signs"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "jwt_keys" {
  secret_id = aws_secretsmanager_secret.jwt_keys.id
  secret_string = jsonencode({
    "0000-initial-ed25519.pem" = tls_private_key.jwt.private_key_pem_pkcs8
  })

  lifecycle {
    ignore_changes = [secret_string] # rotated by operators, see above
  }
}

resource "aws_secretsmanager_secret" "notify_code" {
  #checkov:skip=CKV2_AWS_57:NOTIFY_CODE_SECRET keys verification codes in flight (15 minutes); it is rotated by replacing random_password and redeploying notify, accepting that pending codes no longer verify.
  name                    = "${local.prefix}/notify-code-secret"
  description             = "NOTIFY_CODE_SECRET: HMAC key of email verification codes"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "notify_code" {
  secret_id     = aws_secretsmanager_secret.notify_code.id
  secret_string = random_password.notify_code.result
}

# One key for every task of tasks, files and activity: a page token may come back to any of them.
resource "aws_secretsmanager_secret" "page_token" {
  #checkov:skip=CKV2_AWS_57:PAGE_TOKEN_SECRET keys page tokens, which live as long as a client pages through a list; it is rotated by replacing random_password and redeploying tasks, files and activity, accepting that tokens in flight become a 400 and those listings start again.
  name                    = "${local.prefix}/page-token-secret"
  description             = "PAGE_TOKEN_SECRET: HMAC key of page tokens (tasks, files, activity)"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "page_token" {
  secret_id     = aws_secretsmanager_secret.page_token.id
  secret_string = random_password.page_token.result
}
