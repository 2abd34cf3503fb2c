# Service identity (README, Security model): mutual TLS between the services, and between Envoy and
# the services, as in the local stack and on Kubernetes (tm_common.identity).
#
# Discovery: Cloud Map DNS, not Service Connect. Each service is registered under
# <service>.<discovery domain> in a private DNS namespace of the VPC, one A record per healthy task
# (multivalue answers, short TTL): the services' gRPC channels balance per request over every
# address of the name (round_robin, tm_common.clients) and Envoy over the hosts of its STRICT_DNS
# clusters, with its active health checks and outlier detection, exactly as over a headless
# Service on Kubernetes. Service Connect's proxy would see only TLS bytes (it balances gRPC per
# request only when it can read HTTP/2), so it could only pin each connection to one task.
#
# Certificates: a private CA and one certificate per identity (each service, and "gateway"), made
# by the tls provider: ECDSA P-256, CN = the name (what tm_common.identity reads as the caller),
# DNS SANs = the name (what Envoy checks and sends as SNI) and, for a service, its discovery name
# (what the services' channels dial and verify). Each identity's PEMs are one Secrets Manager
# secret, <prefix>/tls/<name> {"ca.crt", "tls.crt", "tls.key"}, that only its own task execution
# role may read (iam.tf); the init container of its task writes them into a task volume (ecs.tf).
# The CA's private key is in no secret and no task: only in the Terraform state, which therefore
# holds private keys (as it holds the generated passwords): the state bucket is private,
# versioned and encrypted (backend.tf).
#
# Rotation: a certificate is issued again by any `terraform apply` once it is within
# identity_early_renewal_hours of its end (or at once with
# `terraform apply -replace='tls_locally_signed_cert.identity["auth"]'`; replace
# tls_private_key.identity[...] for a new key as well); the apply writes the new secret version
# and starts a new deployment of the ECS services concerned (triggers, ecs.tf), whose new tasks
# read it. Certificates signed by the same CA all trust each other, so old and new tasks keep
# talking during the rollout. Replacing the CA (tls_private_key.ca) re-issues every certificate and
# redeploys everything: while the rollouts run, tasks of the old CA and of the new one refuse each
# other; do it in a quiet hour.

locals {
  # Every identity: the services and the gateway (tm_common.identity.SERVICE_NAMES, GATEWAY).
  identities = toset(concat(keys(local.services), ["gateway"]))

  # The private DNS namespace: one per deployment (Cloud Map names are unique in an account).
  discovery_domain = coalesce(var.service_discovery_domain, "${local.prefix}.internal")
  # What the services and the gateway dial (and what the certificates name): <service>.<domain>.
  service_hosts     = { for name in keys(local.services) : name => "${name}.${local.discovery_domain}" }
  service_addresses = { for name, svc in local.services : name => "${local.service_hosts[name]}:${svc.port}" }
  # Cloud Map's TTL of the A records; the gateway asks again every 2 s whatever the TTL, the
  # services' channels when a connection goes away.
  discovery_ttl = 5

  # DNS SANs of each certificate: its name first (Envoy's SNI and SAN match), then the name it is
  # dialled by. The gateway is dialled by nobody (the load balancer speaks plain HTTP/2 to it).
  identity_dns_names = {
    for name in local.identities : name => name == "gateway" ? [name] : [name, local.service_hosts[name]]
  }

  # Where a service's init container writes its identity (a task volume, read-only in the service
  # container), and where the gateway image's Envoy config reads its own (its build arguments
  # TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE, set by .github/scripts/images.py).
  tls_dir         = "/etc/taskmanager/tls"
  gateway_tls_dir = "/etc/gateway-tls"

  # grpc.health.v1 alone, plaintext, for the container health check (the service port speaks mTLS
  # only): probed on 127.0.0.1 inside the task, so no security group opens it.
  health_port = 50100

  # Injected into the init container of each task, which writes them to files.
  identity_secrets = {
    for name in local.identities : name => {
      TLS_CA_PEM   = "${aws_secretsmanager_secret.identity[name].arn}:ca.crt::"
      TLS_CERT_PEM = "${aws_secretsmanager_secret.identity[name].arn}:tls.crt::"
      TLS_KEY_PEM  = "${aws_secretsmanager_secret.identity[name].arn}:tls.key::"
    }
  }
}

# --- discovery -----------------------------------------------------------------------------------

resource "aws_service_discovery_private_dns_namespace" "main" {
  name        = local.discovery_domain
  description = "Task Manager services (${var.environment}): <service>.${local.discovery_domain}"
  vpc         = aws_vpc.main.id
}

resource "aws_service_discovery_service" "service" {
  for_each = local.services

  name = each.key

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.main.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = local.discovery_ttl
    }
  }

  # ECS reports each task's health (its container health checks): only healthy tasks are answered.
  health_check_custom_config {
    failure_threshold = 1
  }
}

# --- the CA --------------------------------------------------------------------------------------

resource "tls_private_key" "ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem = tls_private_key.ca.private_key_pem

  subject {
    common_name  = "${local.prefix} service identity CA"
    organization = var.name
  }

  is_ca_certificate     = true
  validity_period_hours = var.identity_ca_validity_hours
  early_renewal_hours   = var.identity_ca_early_renewal_hours
  allowed_uses          = ["cert_signing", "crl_signing"]
}

# --- one identity per service and the gateway ------------------------------------------------------

resource "tls_private_key" "identity" {
  for_each = local.identities

  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "identity" {
  for_each = local.identities

  private_key_pem = tls_private_key.identity[each.key].private_key_pem
  dns_names       = local.identity_dns_names[each.key]

  subject {
    common_name  = each.key
    organization = var.name
  }
}

resource "tls_locally_signed_cert" "identity" {
  for_each = local.identities

  cert_request_pem   = tls_cert_request.identity[each.key].cert_request_pem
  ca_private_key_pem = tls_private_key.ca.private_key_pem
  ca_cert_pem        = tls_self_signed_cert.ca.cert_pem

  validity_period_hours = var.identity_validity_hours
  early_renewal_hours   = var.identity_early_renewal_hours
  # Every process is a server and a client of others (tm_devstack.certs issues the same).
  allowed_uses = ["digital_signature", "server_auth", "client_auth"]
}

resource "aws_secretsmanager_secret" "identity" {
  for_each = local.identities

  #checkov:skip=CKV2_AWS_57:Certificates are renewed by Terraform itself (early_renewal_hours: any apply in the last 30 days re-issues them) and the same apply redeploys the ECS service; a rotation Lambda would need the CA key, which stays out of AWS.
  name                    = "${local.prefix}/tls/${each.key}"
  description             = "Service identity of ${each.key}: JSON {ca.crt, tls.crt, tls.key} (PEM)"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "identity" {
  for_each = local.identities

  secret_id = aws_secretsmanager_secret.identity[each.key].id
  secret_string = jsonencode({
    "ca.crt"  = tls_self_signed_cert.ca.cert_pem
    "tls.crt" = tls_locally_signed_cert.identity[each.key].cert_pem
    "tls.key" = tls_private_key.identity[each.key].private_key_pem_pkcs8
  })
}
