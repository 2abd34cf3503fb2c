# Task Manager on AWS: ECS Fargate behind an Application Load Balancer, RDS PostgreSQL,
# ElastiCache Redis, S3, SNS. See README.md ("AWS with Terraform") for the release procedure.
terraform {
  # 1.10: the S3 backend's own state locking (use_lockfile, backend.tf).
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # The state's backend: backend.tf (S3, locked, configured by -backend-config=backend.hcl).
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Application = var.name
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
