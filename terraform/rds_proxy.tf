# RDS Proxy in front of the database, for the services' pools: however many service tasks run,
# the proxy opens at most db_proxy_max_connections_percent of the database's max_connections
# (README, Connection budget; tests/deploy/test_connection_budget.py checks the sum).
#
# Through the proxy (DATABASE_URL): the pools of every service task. Session state would pin a
# client to one database connection, so the services run with DB_PREPARED_STATEMENTS=false (a
# named prepared statement pins) and set search_path through their role's default (db-init).
# Directly to the instance (the secret's own url): LISTEN (DATABASE_DIRECT_URL, two connections a
# task at most), the migrations (session-level SETs) and db-init.
#
# The proxy logs in with each service's own secret (username and password keys) and asks the
# clients for the same password (SCRAM).

resource "aws_db_proxy" "main" {
  name                   = local.prefix
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.rds_proxy.arn
  vpc_subnet_ids         = aws_subnet.private[*].id
  vpc_security_group_ids = [aws_security_group.db_proxy.id]
  require_tls            = true
  idle_client_timeout    = 1800
  debug_logging          = false

  dynamic "auth" {
    for_each = local.services

    content {
      description               = "Role ${var.db_name}_${auth.key}"
      auth_scheme               = "SECRETS"
      iam_auth                  = "DISABLED"
      client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
      secret_arn                = aws_secretsmanager_secret.database[auth.key].arn
    }
  }

  depends_on = [aws_iam_role_policy.rds_proxy]
}

resource "aws_db_proxy_default_target_group" "main" {
  db_proxy_name = aws_db_proxy.main.name

  connection_pool_config {
    max_connections_percent      = var.db_proxy_max_connections_percent
    max_idle_connections_percent = floor(var.db_proxy_max_connections_percent / 2)
    # A client waits this long (s) for a database connection, then gets an error.
    connection_borrow_timeout = 10
    # The services' `SET`s are none; psycopg's startup search_path must not pin.
    session_pinning_filters = ["EXCLUDE_VARIABLE_SETS"]
  }
}

resource "aws_db_proxy_target" "main" {
  db_proxy_name          = aws_db_proxy.main.name
  target_group_name      = aws_db_proxy_default_target_group.main.name
  db_instance_identifier = aws_db_instance.main.identifier
}

# DATABASE_URL of each service through the proxy. The database secret (secrets.tf) keeps the
# direct url, which becomes DATABASE_DIRECT_URL.
resource "aws_secretsmanager_secret" "database_proxy" {
  for_each = local.services

  #checkov:skip=CKV2_AWS_57:Derived from the database secret's password (random_password.database), rotated with it.
  name                    = "${local.prefix}/database-proxy/${each.key}"
  description             = "DATABASE_URL of the ${each.key} service through RDS Proxy"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "database_proxy" {
  for_each = local.services

  secret_id = aws_secretsmanager_secret.database_proxy[each.key].id
  secret_string = jsonencode({
    url = "postgresql+psycopg://${var.db_name}_${each.key}:${random_password.database[each.key].result}@${aws_db_proxy.main.endpoint}:5432/${var.db_name}?sslmode=require"
  })
}

locals {
  # Every service task's connection settings (ecs.tf): its budget, and no named prepared
  # statements (they would pin proxy sessions).
  database_env = {
    DB_MAX_CONNECTIONS     = var.db_max_connections
    DB_PREPARED_STATEMENTS = "false"
  }

  # Merged over local.service_secrets in the task definitions (ecs.tf).
  database_proxy_secrets = {
    for name in keys(local.services) : name => {
      DATABASE_URL        = "${aws_secretsmanager_secret.database_proxy[name].arn}:url::"
      DATABASE_DIRECT_URL = "${aws_secretsmanager_secret.database[name].arn}:url::"
    }
  }
}
