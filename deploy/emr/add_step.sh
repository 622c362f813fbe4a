#!/usr/bin/env bash
# Runs the featurisation job (deploy/emr/step.json: spark-submit of orchard/spark.py) on a running cluster:
#   deploy/emr/add_step.sh CLUSTER_ID
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

main() {
  [ $# -eq 1 ] || { echo "usage: add_step.sh CLUSTER_ID" >&2; exit 2; }
  aws emr add-steps --cluster-id "$1" --steps "file://$HERE/step.json" --query 'StepIds[0]' --output text
}

main "$@"
