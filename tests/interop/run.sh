#!/usr/bin/env bash
# run.sh - interop test: callstream writes, software we did not write reads.
#
# 1. installs Confluent's Python client (confluent-kafka, with fastavro for its
#    AvroDeserializer) from PyPI into a venv under $CALLSTREAM_CACHE (default <repo>/.cache),
#    once per pinned version;
# 2. uses the real Kafka broker named by KAFKA_TEST_BROKERS, or starts one with
#    scripts/kafka-test.sh (and stops it afterwards);
# 3. starts tests/interop/harness (the Graph simulator and a Schema Registry behind basic
#    auth) and runs the real callstream binary against them, creating its topic;
# 4. adds one record in an aborted transaction, then consumes the topic with
#    tests/interop/consume.py (isolation.level=read_committed, AvroDeserializer through the
#    registry, string keys: what a Kafka Connect sink with AvroConverter reads) and checks
#    every field of every row against the simulator, and that the aborted record stays unseen.
#
# Prints "interop: N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/tests/interop

if [[ -z ${KAFKA_TEST_BROKERS:-} ]]; then
	exec "$repo/scripts/kafka-test.sh" "$0" "$@"
fi

log() { printf 'interop: %s\n' "$*" >&2; }

# --- 1. the Python client, pinned ---------------------------------------------------------
cache=${CALLSTREAM_CACHE:-$repo/.cache}
venv=$cache/interop-venv
requirements=$here/requirements.txt
want="$(python3 --version 2>&1) $(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -f $venv/.complete || $(cat "$venv/.complete") != "$want" ]]; then
	log "installing $(tr '\n' ' ' <"$requirements")into $venv"
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
	printf '%s\n' "$want" >"$venv/.complete"
fi

# --- 2./3. harness and callstream ---------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/callstream-interop.XXXXXX")
harness_pid=
cleanup() {
	if [[ -n $harness_pid ]]; then
		kill -TERM "$harness_pid" 2>/dev/null || true
		wait "$harness_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

log "building callstream and the harness"
(cd "$repo" && go build -o "$work/callstream" ./cmd/callstream && go build -o "$work/harness" ./tests/interop/harness)

"$work/harness" -dir "$work" -hours "${INTEROP_HOURS:-12}" -rows-per-hour "${INTEROP_ROWS_PER_HOUR:-1100}" &
harness_pid=$!
for _ in $(seq 1 300); do
	[[ -f $work/env ]] && break
	kill -0 "$harness_pid" 2>/dev/null || {
		log "the harness exited"
		exit 1
	}
	sleep 0.1
done
[[ -f $work/env ]] || {
	log "the harness did not get ready"
	exit 1
}
# shellcheck disable=SC1091 # written by the harness
set -a && source "$work/env" && set +a

topic=callstream-interop-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
log "running callstream into topic $topic on $KAFKA_TEST_BROKERS ($INTEROP_ROWS simulated rows)"
if ! env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
	GRAPH_BASE_URL="$GRAPH_BASE_URL" GRAPH_ACCESS_TOKEN="$GRAPH_ACCESS_TOKEN" \
	KAFKA_BROKERS="$KAFKA_TEST_BROKERS" KAFKA_TOPIC="$topic" \
	KAFKA_CREATE_TOPICS=true KAFKA_TOPIC_PARTITIONS=3 KAFKA_TOPIC_REPLICATION=1 \
	SCHEMA_REGISTRY_URL="$SCHEMA_REGISTRY_URL" \
	SCHEMA_REGISTRY_USERNAME="$SCHEMA_REGISTRY_USERNAME" SCHEMA_REGISTRY_PASSWORD="$SCHEMA_REGISTRY_PASSWORD" \
	CHECKPOINT_PATH="$work/checkpoint.json" START_TIME="$START_TIME" END_TIME="$END_TIME" \
	WINDOW=1h SETTLE_DELAY=0s LOG_FORMAT=json LOG_LEVEL=warn \
	"$work/callstream" run --once >"$work/callstream.log" 2>&1; then
	cat "$work/callstream.log" >&2
	log "callstream failed"
	exit 1
fi

# A record in an aborted transaction, shaped like the others: only isolation.level=read_committed
# keeps it from the consumer, whose checker would reject its id.
"$work/harness" -dir "$work" -abort-into "$topic" -brokers "$KAFKA_TEST_BROKERS"

# --- 4. read it back with Confluent's client ----------------------------------------------
log "consuming with confluent-kafka $("$venv/bin/python" -c 'import confluent_kafka as c, importlib.metadata as m; print(m.version("confluent-kafka"), "+ fastavro", m.version("fastavro"), "/ librdkafka", c.libversion()[0])')"
"$venv/bin/python" "$here/consume.py" \
	--brokers "$KAFKA_TEST_BROKERS" --topic "$topic" \
	--registry "$SCHEMA_REGISTRY_URL" --user "$SCHEMA_REGISTRY_USERNAME" --password "$SCHEMA_REGISTRY_PASSWORD" \
	--truth "$work/truth.jsonl" --expect-aborted
