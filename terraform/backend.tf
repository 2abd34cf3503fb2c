# Where Terraform keeps its state: an S3 bucket, encrypted, with Terraform's own lock file beside the
# state (use_lockfile, Terraform >= 1.10: no DynamoDB table), so two `terraform apply` never run on
# one environment at once. State holds the generated passwords, the Redis auth token and the first
# JWT signing key: the bucket must be private, versioned and encrypted, reachable only by those
# who deploy. The settings are per environment and are not written here (a partial configuration):
#   cp backend.hcl.example backend.hcl        # then set bucket, key and region
#   terraform init -backend-config=backend.hcl
# The bucket is made once, outside this configuration (it cannot hold the state of its own bucket).
terraform {
  backend "s3" {}
}
