#!/usr/bin/env bash
# run.sh - interop test: callstream writes, software we did not write reads.
#
# 1. installs Confluent's Python client (confluent-kafka, with fastavro for its
#    AvroDeserializer) from PyPI into a venv under $CALLSTREAM_CACHE (default <repo>/.cache),
#    once per pinned version;
# 2. uses the real Kafka broker named by KAFKA_TEST_BROKERS, or starts one with
#    scripts/kafka-test.sh (and stops it afterwards);
# 3. starts tests/interop/harness (the Graph simulator and a Schema Registry behind basic
#    auth), which lists every source of the registry (the logs, the pstn-dialout aggregate
#    and the call records) in every Graph API version it is offered in (lanes.tsv) with the
#    simulator's truth for it and the Graph and range to read it from, and runs the real
#    callstream binary against them once per API version and range (GRAPH_API_VERSION is one
#    setting for a run; the call records, which Graph keeps 30 days, are an hour two days
#    ago on a simulator of their own), SOURCES listing that run's sources, each to a topic
#    of its own;
# 4. adds one record in an aborted transaction to every topic, then consumes every topic with
#    tests/interop/consume.py (isolation.level=read_committed, AvroDeserializer through the
#    registry, string keys: what a Kafka Connect sink with AvroConverter reads) and checks
#    every field of every row (of an aggregate: of every day and grouping, by its key; of a
#    call record: every (id, version) once, down to every session's segments' media streams)
#    against the simulator, the registered schema against the .avsc, and that the aborted
#    records stay unseen.
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

# The call-record codec's golden bodies (schemas/testdata, pinned by TestCallRecordGolden),
# through the same client: fields the simulated records do not exercise (a month-long
# duration, a lossy one, feedback tokens) decoded as the codec's docs promise.
"$venv/bin/python" "$here/callrecords_check.py" "$repo"

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

# --- one callstream run per Graph API version and range, a topic per source --------------
# A lane's Graph and range are the harness's (lanes.tsv): the call records are
# read from a simulator of their own, over an hour inside Graph's 30 days.
run_id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
: >"$work/topics.tsv"
mapfile -t runs < <(cut -f1,9- "$work/lanes.tsv" | awk '!seen[$0]++')
n=0
for run in "${runs[@]}"; do
	IFS=$'\t' read -r version graph from to <<<"$run"
	n=$((n + 1))
	names=()
	topics=()
	topic_env=()
	while IFS=$'\t' read -r v source setting id_prop key_prop truth kind avsc lane_graph lane_from lane_to; do
		[[ $v == "$version" && $lane_graph == "$graph" && $lane_from == "$from" && $lane_to == "$to" ]] || continue
		topic=callstream-interop-$run_id-$source-${version//./}
		names+=("$source")
		topics+=("$topic")
		topic_env+=("$setting=$topic")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$version" "$source" "$topic" "$id_prop" "$key_prop" "$work/$truth" "$kind" "$repo/$avsc" >>"$work/topics.tsv"
	done <"$work/lanes.tsv"
	sources_list=$(IFS=,; echo "${names[*]}")
	log "running callstream (Graph $version, SOURCES=$sources_list, $from to $to) into ${topics[*]} on $KAFKA_TEST_BROKERS"
	# KAFKA_TOPIC first, so that direct-routing's own topic (in topic_env) overrides it
	# when the run reads it; otherwise it only names the run's checkpoint topic.
	if ! env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
		GRAPH_BASE_URL="$graph" GRAPH_ACCESS_TOKEN="$GRAPH_ACCESS_TOKEN" GRAPH_API_VERSION="$version" \
		KAFKA_BROKERS="$KAFKA_TEST_BROKERS" KAFKA_TOPIC="callstream-interop-$run_id-${version//./}-$n" \
		SOURCES="$sources_list" "${topic_env[@]}" \
		KAFKA_CREATE_TOPICS=true KAFKA_TOPIC_PARTITIONS=3 KAFKA_TOPIC_REPLICATION=1 \
		SCHEMA_REGISTRY_URL="$SCHEMA_REGISTRY_URL" \
		SCHEMA_REGISTRY_USERNAME="$SCHEMA_REGISTRY_USERNAME" SCHEMA_REGISTRY_PASSWORD="$SCHEMA_REGISTRY_PASSWORD" \
		CHECKPOINT_PATH="$work/checkpoint-$version-$n.json" START_TIME="$from" END_TIME="$to" \
		WINDOW=1h SETTLE_DELAY=0s LOG_FORMAT=json LOG_LEVEL=warn \
		"$work/callstream" run --once >"$work/callstream-$version-$n.log" 2>&1; then
		cat "$work/callstream-$version-$n.log" >&2
		log "callstream failed (Graph $version, SOURCES=$sources_list)"
		exit 1
	fi
done

# A record in an aborted transaction on every topic, shaped like the others: only
# isolation.level=read_committed keeps it from the consumer, whose checker would reject its id.
while IFS=$'\t' read -r version source topic _; do
	"$work/harness" -dir "$work" -abort-into "$topic" -source "$source" -version "$version" -brokers "$KAFKA_TEST_BROKERS"
done <"$work/topics.tsv"

# --- 4. read them back with Confluent's client --------------------------------------------
log "consuming $(wc -l <"$work/topics.tsv") topics ($INTEROP_ROWS simulated rows and call records) with confluent-kafka $("$venv/bin/python" -c 'import confluent_kafka as c, importlib.metadata as m; print(m.version("confluent-kafka"), "+ fastavro", m.version("fastavro"), "/ librdkafka", c.libversion()[0])')"
"$venv/bin/python" "$here/consume.py" \
	--brokers "$KAFKA_TEST_BROKERS" --topics "$work/topics.tsv" \
	--registry "$SCHEMA_REGISTRY_URL" --user "$SCHEMA_REGISTRY_USERNAME" --password "$SCHEMA_REGISTRY_PASSWORD" \
	--expect-aborted
