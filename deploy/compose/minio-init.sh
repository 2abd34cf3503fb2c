#!/bin/sh
# The compose stack's `minio-init` one-shot (image minio/mc; POSIX sh and mc only): the files
# service's bucket, private, and a MinIO user for the files service whose policy reaches only the
# objects of that bucket (as its IAM role does on AWS), so the service never holds the root keys.
#   MINIO_URL, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD    the server and its root credentials
#   S3_BUCKET                                          the bucket
#   FILES_S3_ACCESS_KEY, FILES_S3_SECRET_KEY           the files service's credentials
# Idempotent: it runs on every `docker compose up` and re-sets the user's secret to the one given.
# Credentials reach mc through MC_HOST_minio (never a command line): URL-safe characters only.
set -eu

: "${MINIO_URL:?MINIO_URL is not set}"
: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
: "${S3_BUCKET:?S3_BUCKET is not set}"
: "${FILES_S3_ACCESS_KEY:?FILES_S3_ACCESS_KEY is not set}"
: "${FILES_S3_SECRET_KEY:?FILES_S3_SECRET_KEY is not set}"

scheme=${MINIO_URL%%://*}
MC_HOST_minio="${scheme}://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${MINIO_URL#*://}"
export MC_HOST_minio
policy="${S3_BUCKET}-objects-rw"
policy_file=/tmp/${policy}.json

mc mb --ignore-existing "minio/${S3_BUCKET}"
mc anonymous set none "minio/${S3_BUCKET}"

# What the files service does: put (also multipart), get, head, delete objects; list the bucket.
printf '%s\n' '{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::'"${S3_BUCKET}"'"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::'"${S3_BUCKET}"'/*"]}
  ]
}' > "$policy_file"
mc admin policy create minio "$policy" "$policy_file"
mc admin user add minio "$FILES_S3_ACCESS_KEY" "$FILES_S3_SECRET_KEY"
# On an existing volume the policy is attached already, which mc reports as an error.
if ! out=$(mc admin policy attach minio "$policy" --user "$FILES_S3_ACCESS_KEY" 2>&1); then
    info=$(mc admin user info minio "$FILES_S3_ACCESS_KEY" --json)
    case $info in
        *"\"${policy}\""* | *"\"${policy},"* | *",${policy}\""* | *",${policy},"*) ;;
        *)
            printf 'minio-init: %s\n' "$out" >&2
            exit 1
            ;;
    esac
fi
echo "minio-init: bucket ${S3_BUCKET}, user ${FILES_S3_ACCESS_KEY} with policy ${policy}"
