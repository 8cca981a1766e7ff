#!/usr/bin/env bash
# Runs a command with KAFKA_TEST_BROKERS pointing at a real single-node
# Apache Kafka broker started by scripts/kafka.sh, and stops the broker
# afterwards whatever the command's outcome.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envline=$("$here/kafka.sh" up)
trap '"$here/kafka.sh" down >&2 || true' EXIT
export "${envline?}"
echo "real broker: $KAFKA_TEST_BROKERS" >&2
"$@"
