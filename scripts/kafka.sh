#!/usr/bin/env bash
# kafka.sh - run a real single-node Apache Kafka 4.x broker (KRaft, combined
# broker+controller, no Docker) on 127.0.0.1 for the integration tests.
#
# Usage:
#   scripts/kafka.sh up      fetch the jars (first time only), start the broker, wait until it
#                            answers; prints exactly one line, KAFKA_TEST_BROKERS=127.0.0.1:<port>,
#                            on stdout (everything else goes to stderr)
#   scripts/kafka.sh up --sasl
#                            the same broker with three more listeners, for the security tests
#                            (the PLAINTEXT one is unchanged); prints one NAME=value line each:
#                              KAFKA_TEST_BROKERS           PLAINTEXT, as above
#                              KAFKA_TEST_SASL_BROKERS      SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#                              KAFKA_TEST_SASL_SSL_BROKERS  SASL_SSL (TLS, CA made here): PLAIN, SCRAM-SHA-512
#                              KAFKA_TEST_OAUTH_BROKERS     SASL_PLAINTEXT OAUTHBEARER with Kafka's unsecured-JWT
#                                                           validator (any unsigned JWT with sub and exp claims)
#                              KAFKA_TEST_SASL_USER, KAFKA_TEST_SASL_PASSWORD  the one PLAIN/SCRAM user
#                              KAFKA_TEST_CA_FILE           PEM CA that signed the SASL_SSL listener's
#                                                           certificate (for 127.0.0.1 and localhost)
#                            A running broker without these listeners is restarted with them.
#   scripts/kafka.sh down    stop the broker (SIGTERM, then SIGKILL after 30 s) and remove its state
#   scripts/kafka.sh status  say whether it is running (exit 0) or not (exit 1)
#   scripts/kafka.sh env     print KAFKA_TEST_BROKERS=... of the running broker (exit 1 if none)
#
#   export "$(scripts/kafka.sh up)" && go test ./... ; scripts/kafka.sh down
#
# Environment:
#   CALLSTREAM_CACHE       cache root (default <repo>/.cache); jars go to $CALLSTREAM_CACHE/kafka/libs/<version>,
#                          the broker state, log, pid and env file to $CALLSTREAM_CACHE/kafka/run
#   KAFKA_VERSION          Kafka version to fetch (default: kafka.version in scripts/kafka/pom.xml)
#   KAFKA_HEAP_OPTS        broker JVM heap options (default -Xmx512m -Xms256m)
#   KAFKA_JVM_OPTS         other broker JVM options (default -XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 90)
#   KAFKA_FETCH_TIMEOUT    seconds allowed for the Maven download (default 900)
#
# The jars are fetched with Maven from Maven Central (scripts/kafka/pom.xml); they are reused
# as long as the Kafka version and the pom are unchanged. Without Java 17+ (or without Maven
# while the jars are not cached yet) `up` exits 3 at once; `go test ./...` without
# KAFKA_TEST_BROKERS uses the in-process kfake instead.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pom=$repo/scripts/kafka/pom.xml
base=${CALLSTREAM_CACHE:-$repo/.cache}/kafka
run=$base/run
pidfile=$run/broker.pid
envfile=$run/env
logfile=$run/broker.log

start_timeout=${KAFKA_START_TIMEOUT:-90}
fetch_timeout=${KAFKA_FETCH_TIMEOUT:-900}
heap_opts=${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}
# C1-only JIT and the serial collector: much less CPU at startup, plenty for tests.
jvm_opts=${KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	local code=$1
	shift
	log "$*"
	exit "$code"
}

need_tools_msg="the real-broker tests need Java 17+ and Maven; install openjdk-17-jre-headless and maven, or run \`go test ./...\` which uses the in-process kfake"

kafka_version() {
	if [[ -n ${KAFKA_VERSION:-} ]]; then
		printf '%s\n' "$KAFKA_VERSION"
		return
	fi
	local v
	v=$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$pom" | head -n 1)
	[[ -n $v ]] || die 1 "cannot read kafka.version from $pom"
	printf '%s\n' "$v"
}

# check_java exits 3 unless java >= 17 is on PATH.
check_java() {
	command -v java >/dev/null 2>&1 || die 3 "java not found: $need_tools_msg"
	local line major
	line=$(java -version 2>&1 | head -n 1) || true
	# 'openjdk version "17.0.15" 2025-04-15' or 'java version "1.8.0_392"'
	major=$(printf '%s\n' "$line" | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p')
	if [[ $major == "1 "* ]]; then
		major=${major#1 }
	else
		major=${major%% *}
	fi
	[[ $major =~ ^[0-9]+$ ]] || die 3 "cannot parse the java version from '$line': $need_tools_msg"
	((major >= 17)) || die 3 "java $major found, need 17+: $need_tools_msg"
}

# fetch_libs makes sure the jars for the Kafka version are in $libs (sets libs).
fetch_libs() {
	local version stamp want
	version=$(kafka_version)
	libs=$base/libs/$version
	stamp=$libs/.complete
	want="$version $(sha256sum "$pom" | cut -d' ' -f1)"
	if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return
	fi
	command -v mvn >/dev/null 2>&1 || die 3 "mvn not found (needed once to fetch the Kafka jars): $need_tools_msg"
	log "fetching Apache Kafka $version jars from Maven Central into $libs (first run only, may take a few minutes)"
	local tmp=$libs.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# (Debian's mvn prints colour resets even in batch mode; strip them.)
	if ! timeout "$fetch_timeout" mvn -q -B -f "$pom" \
		dependency:copy-dependencies \
		-Dkafka.version="$version" \
		-DincludeScope=runtime \
		-DoutputDirectory="$tmp" </dev/null 2>&1 | sed $'s/\x1b\\[[0-9;]*m//g' >&2; then
		rm -rf "$tmp"
		die 1 "mvn dependency:copy-dependencies failed for Kafka $version (see the output above)"
	fi
	[[ -f $tmp/kafka_2.13-$version.jar ]] || {
		rm -rf "$tmp"
		die 1 "kafka_2.13-$version.jar missing after the Maven fetch"
	}
	printf '%s\n' "$want" >"$tmp/.complete"
	rm -rf "$libs"
	mv "$tmp" "$libs"
	log "fetched $(find "$libs" -name '*.jar' | wc -l) jars"
}

# free_ports N prints N (default 2) distinct free TCP ports on 127.0.0.1.
free_ports() {
	local n=${1:-2}
	if command -v python3 >/dev/null 2>&1; then
		python3 -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
' "$n"
		return
	fi
	local ports=() p
	while ((${#ports[@]} < n)); do
		p=$((20000 + RANDOM % 40000))
		[[ " ${ports[*]} " == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			ports+=("$p")
		fi
	done
	echo "${ports[@]}"
}

# The one SASL user of `up --sasl` (PLAIN and SCRAM); a test-only credential.
sasl_user=callstream
sasl_password=callstream-test-secret

# gen_certs makes a throwaway CA and a server certificate for 127.0.0.1 and localhost
# in $run/tls (server.pem: PKCS#8 key + chain, the PEM keystore Kafka reads).
gen_certs() {
	local d=$run/tls
	command -v openssl >/dev/null 2>&1 || {
		log "openssl not found: needed for the SASL_SSL listener of up --sasl"
		return 1
	}
	mkdir -p "$d"
	{
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 7 			-subj "/CN=callstream test CA" &&
			openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" 				-subj "/CN=localhost" &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth
' >"$d/ext.cnf" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial 				-out "$d/server.crt" -days 7 -extfile "$d/ext.cnf" &&
			openssl pkcs8 -topk8 -nocrypt -in "$d/server.key" -out "$d/server.p8"
	} >"$d/openssl.log" 2>&1 || {
		cat "$d/openssl.log" >&2
		log "generating the test certificates failed"
		return 1
	}
	cat "$d/server.p8" "$d/server.crt" "$d/ca.pem" >"$d/server.pem"
}

# cluster_id prints a random Kafka cluster id (base64url of 16 random bytes, like
# `kafka-storage.sh random-uuid`, without starting a JVM).
cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		[[ $id == -* ]] || break
	done
	printf '%s\n' "$id"
}

# broker_pid prints the pid of our running broker, or fails.
broker_pid() {
	[[ -f $pidfile ]] || return 1
	local pid
	pid=$(cat "$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: it must be a kafka.Kafka java process using our config.
	if [[ -r /proc/$pid/cmdline ]]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $run/server.properties" || return 1
	fi
	printf '%s\n' "$pid"
}

write_config() {
	local bport=$1 cport=$2 sport=${3:-} tport=${4:-} oport=${5:-}
	local listeners="PLAINTEXT://127.0.0.1:$bport"
	local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
	if [[ -n $sport ]]; then
		listeners+=",SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$tport,OAUTH://127.0.0.1:$oport"
		protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,OAUTH:SASL_PLAINTEXT"
	fi
	mkdir -p "$run/data"
	cat >"$run/server.properties" <<EOF
# Generated by scripts/kafka.sh: single-node combined broker+controller (KRaft), loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$run/data

# One node: every internal topic has replication factor 1 (transactions need the
# transaction state log ones, consumer groups the offsets topic ones).
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tolerate a loaded machine (parallel test runs): do not fence the broker when a
# heartbeat is late (default 9 s).
broker.session.timeout.ms=30000

# Tests create their topics explicitly (as with kfake, whose default is the same).
auto.create.topics.enable=false
num.partitions=1
group.initial.rebalance.delay.ms=0

# Small footprint: small segments, a small log-cleaner (compaction) buffer.
log.segment.bytes=1048576
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
	if [[ -n $sport ]]; then
		cat >>"$run/server.properties" <<EOF

# up --sasl: test-only listeners. The user is created by format --add-scram (SCRAM) and
# named in the JAAS lines (PLAIN). OAUTH uses Kafka's default OAUTHBEARER validator, the
# unsecured-JWT one, which accepts unsigned tokens: never do this outside a test.
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$run/tls/server.pem
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
EOF
	fi
	cat >"$run/log4j2.properties" <<'EOF'
# Generated by scripts/kafka.sh: broker log to stdout (redirected to broker.log).
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
	cat >"$run/tools-log4j2.properties" <<'EOF'
# Generated by scripts/kafka.sh: command-line tools log warnings to stderr.
status = warn
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
EOF
}

# tool runs a Kafka command-line class against the jars, bounded by a timeout.
tool() {
	local secs=$1
	shift
	timeout "$secs" java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
		-Dlog4j2.configurationFile="$run/tools-log4j2.properties" \
		-cp "$libs/*" "$@" </dev/null
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	log "broker (pid $pid) did not stop within 30 s, sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
}

# start_once starts the broker on fresh ports and waits for it. Returns 0 when ready,
# 2 when it could not bind its ports (worth a retry), 1 otherwise.
start_once() {
	local ports bport cport sport='' tport='' oport='' pid deadline scram=()
	if ((sasl)); then
		ports=$(free_ports 5)
		read -r bport cport sport tport oport <<<"$ports"
	else
		ports=$(free_ports)
		read -r bport cport <<<"$ports"
	fi
	rm -rf "$run"
	mkdir -p "$run"
	write_config "$bport" "$cport" "$sport" "$tport" "$oport"
	if ((sasl)); then
		gen_certs || return 1
		scram=(--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]"
			--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]")
	fi

	if ! tool 120 kafka.tools.StorageTool format -t "$(cluster_id)" -c "$run/server.properties" \
		"${scram[@]}" >"$run/format.log" 2>&1; then
		cat "$run/format.log" >&2
		log "formatting the storage failed"
		return 1
	fi

	# shellcheck disable=SC2086 # heap_opts and jvm_opts are lists of JVM options
	java $heap_opts $jvm_opts -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$run/log4j2.properties" \
		-cp "$libs/*" kafka.Kafka "$run/server.properties" \
		</dev/null >"$logfile" 2>&1 9>&- &
	pid=$!
	disown "$pid" 2>/dev/null || true
	printf '%s\n' "$pid" >"$pidfile"
	# Interrupted while waiting: do not leave a half-started broker behind.
	# shellcheck disable=SC2064 # expand pid now
	trap "stop_pid $pid; exit 130" INT TERM HUP
	log "started broker pid $pid on 127.0.0.1:$bport (controller 127.0.0.1:$cport), log $logfile"

	deadline=$((SECONDS + start_timeout))
	# 1. the broker says it started (in KRaft this is logged after it is unfenced)
	while ! grep -q 'Kafka Server started' "$logfile" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			if grep -qE 'BindException|Address already in use' "$logfile"; then
				log "port clash, retrying on other ports"
				return 2
			fi
			log "the broker exited during startup; last 50 log lines:"
			tail -n 50 "$logfile" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "the broker did not start within ${start_timeout}s; last 50 log lines:"
			tail -n 50 "$logfile" >&2
			stop_pid "$pid"
			return 1
		fi
		sleep 0.2
	done
	# 2. it answers a metadata request from a real client
	while ! tool 30 org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$bport" --list \
		>/dev/null 2>>"$run/check.log"; do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
			log "the broker does not answer metadata requests; last 50 log lines:"
			tail -n 50 "$logfile" >&2
			stop_pid "$pid"
			return 1
		fi
		sleep 1
	done
	trap - INT TERM HUP
	{
		printf 'KAFKA_TEST_BROKERS=127.0.0.1:%s\n' "$bport"
		if ((sasl)); then
			printf 'KAFKA_TEST_SASL_BROKERS=127.0.0.1:%s\n' "$sport"
			printf 'KAFKA_TEST_SASL_SSL_BROKERS=127.0.0.1:%s\n' "$tport"
			printf 'KAFKA_TEST_OAUTH_BROKERS=127.0.0.1:%s\n' "$oport"
			printf 'KAFKA_TEST_SASL_USER=%s\n' "$sasl_user"
			printf 'KAFKA_TEST_SASL_PASSWORD=%s\n' "$sasl_password"
			printf 'KAFKA_TEST_CA_FILE=%s\n' "$run/tls/ca.pem"
		fi
	} >"$envfile"
	return 0
}

cmd_up() {
	local pid rc attempt start=$SECONDS
	check_java
	mkdir -p "$base"
	exec 9>"$base/lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w 900 9 || die 1 "another kafka.sh is busy (lock $base/lock)"
	fi
	if pid=$(broker_pid) && [[ -f $envfile ]]; then
		if ((sasl)) && ! grep -q '^KAFKA_TEST_SASL_BROKERS=' "$envfile"; then
			log "running (pid $pid) without the SASL listeners; restarting with them"
		else
			log "already running (pid $pid)"
			cat "$envfile"
			return 0
		fi
	fi
	if [[ -d $run ]]; then
		cmd_down_locked
	fi
	fetch_libs
	for attempt in 1 2 3; do
		rc=0
		start_once || rc=$?
		trap - INT TERM HUP
		case $rc in
		0)
			log "ready after $((SECONDS - start))s (Kafka $(kafka_version))"
			cat "$envfile"
			return 0
			;;
		2) ;;
		*) exit 1 ;;
		esac
		log "attempt $attempt failed"
	done
	die 1 "could not start the broker"
}

cmd_down_locked() {
	local pid
	if pid=$(broker_pid); then
		log "stopping broker pid $pid"
		stop_pid "$pid"
	fi
	rm -rf "$run"
}

cmd_down() {
	mkdir -p "$base"
	exec 9>"$base/lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w 120 9 || die 1 "another kafka.sh is busy (lock $base/lock)"
	fi
	cmd_down_locked
	log "stopped"
}

cmd_status() {
	local pid
	if pid=$(broker_pid) && [[ -f $envfile ]]; then
		echo "running: pid $pid, $(cat "$envfile"), log $logfile"
		return 0
	fi
	echo "not running"
	return 1
}

cmd_env() {
	if broker_pid >/dev/null && [[ -f $envfile ]]; then
		cat "$envfile"
		return 0
	fi
	log "not running (scripts/kafka.sh up)"
	return 1
}

sasl=0
case ${1:-} in
up)
	case ${2:-} in
	"") ;;
	--sasl) sasl=1 ;;
	*)
		echo "usage: $0 up [--sasl]" >&2
		exit 2
		;;
	esac
	cmd_up
	;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: $0 up [--sasl]|down|status|env" >&2
	exit 2
	;;
esac
