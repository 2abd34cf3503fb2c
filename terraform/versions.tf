# Task Manager on AWS: ECS Fargate behind an Application Load Balancer, RDS PostgreSQL,
# ElastiCache Redis, S3, SNS. See README.md ("AWS with Terraform") for the release procedure.
terraform {
  required_version = ">= 1.6"

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

  # State holds the generated passwords, the Redis auth token and the first JWT signing key: keep
  # it in an encrypted, access-controlled backend, e.g. (terraform init -backend-config=...):
  #   backend "s3" {
  #     bucket       = "<state bucket>"
  #     key          = "taskmanager/<environment>.tfstate"
  #     region       = "<region>"
  #     encrypt      = true
  #     use_lockfile = true
  #   }
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
