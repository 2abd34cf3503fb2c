# The public entry: an Application Load Balancer in the public subnets terminates TLS and speaks
# HTTP/2 to Envoy on port 8080 in the gateway tasks. There is no port 80 at all: an API client that
# sends its bearer token to http:// must fail to connect, not be redirected after the token went
# out in clear text.
# * requests with content-type application/grpc* go to a GRPC target group (end-to-end gRPC,
#   health checked with a public gRPC call);
# * everything else (JSON/HTTP) goes to a target group of protocol version
#   var.gateway_protocol_version, HTTP2 by default.
# Envoy's listener accepts both HTTP/1.1 and HTTP/2 in clear text (codec AUTO), so either works.

resource "aws_lb" "main" {
  #checkov:skip=CKV2_AWS_28:No WAF in front: the managed rule sets inspect bodies as text and would block binary gRPC bodies and large JSON uploads (files); Envoy already enforces JWTs and per-route rate limits at the edge. Attach a tuned web ACL where one is required.
  name                       = local.prefix
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  enable_http2               = true
  idle_timeout               = 120 # files: uploads and downloads may take up to the gateway's 120 s

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "gateway" {
  # ALB -> Envoy is clear text inside the VPC (TLS ends at the ALB): TLS to the targets would need a
  # certificate and a TLS listener in the gateway image.
  name                 = "${local.prefix}-gw-${lower(var.gateway_protocol_version)}"
  port                 = local.gateway_port
  protocol             = "HTTP"
  protocol_version     = var.gateway_protocol_version
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  # /version is public and answered by any live service through Envoy; /health would take every
  # gateway out of service whenever one dependency is down.
  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/version"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  lifecycle {
    create_before_destroy = true # the protocol version cannot change in place
  }
}

resource "aws_lb_target_group" "gateway_grpc" {
  #checkov:skip=CKV_AWS_378:Clients reach this group only through the HTTPS listener (rule "grpc"), which checkov does not follow; ALB to Envoy is plain HTTP/2 inside the private subnets, admitted only from the ALB's security group.
  name                 = "${local.prefix}-gw-grpc"
  port                 = local.gateway_port
  protocol             = "HTTP"
  protocol_version     = "GRPC"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/taskmanager.ops.v1.OpsService/GetVersion"
    matcher             = "0" # gRPC status OK
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

resource "aws_lb_listener_rule" "grpc" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway_grpc.arn
  }

  condition {
    http_header {
      http_header_name = "content-type"
      values           = ["application/grpc*"]
    }
  }
}
