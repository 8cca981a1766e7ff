#!/usr/bin/env bash
# Runs a command with KAFKA_TEST_BROKERS pointing at a real single-node
# Apache Kafka broker started by scripts/kafka.sh, and stops the broker
# afterwards whatever the command's outcome. The broker also has the SASL,
# SASL_SSL and OAUTHBEARER listeners of `kafka.sh up --sasl`, whose
# KAFKA_TEST_* variables are exported too, so that the security tests run
# against the real broker as well.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envlines=$("$here/kafka.sh" up --sasl)
trap '"$here/kafka.sh" down >&2 || true' EXIT
while IFS= read -r line; do
	[[ -n $line ]] && export "${line?}"
done <<<"$envlines"
echo "real broker: $KAFKA_TEST_BROKERS (SASL $KAFKA_TEST_SASL_BROKERS, SASL_SSL $KAFKA_TEST_SASL_SSL_BROKERS, OAUTHBEARER $KAFKA_TEST_OAUTH_BROKERS)" >&2
"$@"
