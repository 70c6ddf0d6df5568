#!/bin/sh
# One-shot set-up of the attachment store (run by the `minio-init` job of docker-compose.yml with
# the minio/mc image): the bucket case_service writes to, private, versioned, and an access key
# of its own that may use that bucket only. Safe to run again.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${CASE_S3_BUCKET:?}" "${CASE_S3_ACCESS_KEY_ID:?}" "${CASE_S3_SECRET_ACCESS_KEY:?}"
endpoint=${MINIO_ENDPOINT:-http://minio:9000}

mc alias set gridgov "$endpoint" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "gridgov/$CASE_S3_BUCKET"
mc anonymous set none "gridgov/$CASE_S3_BUCKET"
mc version enable "gridgov/$CASE_S3_BUCKET"

policy=/tmp/gridgov-case-attachments.json
cat >"$policy" <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::$CASE_S3_BUCKET"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                   "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::$CASE_S3_BUCKET/*"]}
  ]
}
POLICY
mc admin policy create gridgov gridgov-case-attachments "$policy"
mc admin user add gridgov "$CASE_S3_ACCESS_KEY_ID" "$CASE_S3_SECRET_ACCESS_KEY"
mc admin policy attach gridgov gridgov-case-attachments --user "$CASE_S3_ACCESS_KEY_ID" 2>/dev/null \
    || echo "policy already attached to $CASE_S3_ACCESS_KEY_ID"
echo "gridgov: bucket $CASE_S3_BUCKET ready for $CASE_S3_ACCESS_KEY_ID"
