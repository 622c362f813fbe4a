#!/usr/bin/env bash
# Starts the EMR cluster defined by deploy/emr/cluster/*.json (instance fleets with managed scaling, Spark
# settings, the orchard bootstrap action):
#   deploy/emr/create_cluster.sh SUBNET_ID [SUBNET_ID...]
# The nodes run as the instance profile "orchard-emr-instance" (deploy/emr/iam-policy.json attached to its role);
# EMR itself as the default service role. Prints the cluster id; then deploy/emr/add_step.sh CLUSTER_ID.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

RELEASE_LABEL="emr-7.5.0"
INSTANCE_PROFILE="orchard-emr-instance"
LOG_URI="s3://orchard-example-artifacts/emr-logs/"

main() {
  [ $# -ge 1 ] || { echo "usage: create_cluster.sh SUBNET_ID [SUBNET_ID...]" >&2; exit 2; }
  local subnets
  subnets=$(printf '"%s",' "$@")
  aws emr create-cluster \
    --name "orchard-featurise" \
    --release-label "$RELEASE_LABEL" \
    --applications Name=Spark \
    --service-role EMR_DefaultRole_V2 \
    --ec2-attributes "{\"InstanceProfile\": \"$INSTANCE_PROFILE\", \"SubnetIds\": [${subnets%,}]}" \
    --log-uri "$LOG_URI" \
    --instance-fleets "file://$HERE/cluster/instance-fleets.json" \
    --managed-scaling-policy "file://$HERE/cluster/managed-scaling.json" \
    --configurations "file://$HERE/cluster/configurations.json" \
    --bootstrap-actions "file://$HERE/cluster/bootstrap-actions.json" \
    --auto-termination-policy IdleTimeout=3600 \
    --query ClusterId --output text
}

main "$@"
