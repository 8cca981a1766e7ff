#!/usr/bin/env bash
# flink-sql-check.sh - parse Flink SQL files with Flink's own SQL parser.
#
# Usage:
#   scripts/flink-sql-check.sh FILE...
#
# Parses every statement of each FILE with flink-sql-parser's
# FlinkSqlParserImpl, configured as Flink's planner configures it (default
# conformance, Java lexing), in one JVM (scripts/flink-sql/FlinkSqlCheck.java,
# run as a single-file program). Prints one line per file on stdout:
#   ok FILE: N statements
#   FAIL FILE: statement N (starting line L: <its first line>): line L, column C: <parse error>
# Exit status: 0 every file parses, 1 a file does not, 2 usage or unreadable file,
# 3 Java 17+ missing (or Maven, while the jars are not cached yet).
#
# Syntax only: whether names resolve and types fit is a planner's job (it needs
# the connectors); deploy/join_test.go checks the table definitions against
# callstream's topics and schemas.
#
# The jars (about 15 MB: the parser, Calcite, Avatica, Guava, commons-math3,
# slf4j-api; scripts/flink-sql/pom.xml) are fetched once with Maven from Maven
# Central, with Maven's strict checksum checks, then each is checked against the
# SHA-256 pinned in scripts/flink-sql/jars.sha256. They are reused as long as the
# pom and the pinned sums are unchanged.
#
# Environment:
#   CALLSTREAM_CACHE         cache root (default <repo>/.cache); jars go to
#                            $CALLSTREAM_CACHE/flink-sql/libs/<hash of pom and sums>
#   FLINK_SQL_FETCH_TIMEOUT  seconds allowed for the Maven download (default 600)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$repo/scripts/flink-sql
pom=$dir/pom.xml
sums=$dir/jars.sha256
base=${CALLSTREAM_CACHE:-$repo/.cache}/flink-sql
fetch_timeout=${FLINK_SQL_FETCH_TIMEOUT:-600}

log() { printf 'flink-sql-check.sh: %s\n' "$*" >&2; }
die() {
	local code=$1
	shift
	log "$*"
	exit "$code"
}

need_tools_msg="the Flink SQL check needs Java 17+ and (once, to fetch the parser) Maven; install openjdk-17-jdk-headless and maven"

(($# > 0)) || die 2 "usage: $0 FILE..."

# check_java exits 3 unless java >= 17 is on PATH (single-file programs need 11+,
# the checker uses records).
check_java() {
	command -v java >/dev/null 2>&1 || die 3 "java not found: $need_tools_msg"
	local line major
	line=$(java -version 2>&1 | head -n 1) || true
	major=$(printf '%s\n' "$line" | sed -n 's/.*version "\([0-9]*\).*/\1/p')
	[[ $major =~ ^[0-9]+$ ]] || die 3 "cannot parse the java version from '$line': $need_tools_msg"
	((major >= 17)) || die 3 "java $major found, need 17+: $need_tools_msg"
}

# fetch_libs makes sure the pinned jars are in $libs (sets libs).
fetch_libs() {
	local key stamp tmp
	key=$(cat "$pom" "$sums" | sha256sum | cut -c1-16)
	libs=$base/libs/$key
	stamp=$libs/.complete
	[[ -f $stamp ]] && return
	mkdir -p "$base"
	# Two test processes at once: one fetches, the other waits and reuses.
	exec 9>"$base/lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w "$fetch_timeout" 9 || die 1 "another flink-sql-check.sh is busy (lock $base/lock)"
	fi
	[[ -f $stamp ]] && return
	command -v mvn >/dev/null 2>&1 || die 3 "mvn not found (needed once to fetch the Flink SQL parser): $need_tools_msg"
	log "fetching the Flink SQL parser jars from Maven Central into $libs (first run only)"
	tmp=$libs.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# (Debian's mvn prints colour resets even in batch mode; strip them.)
	if ! timeout "$fetch_timeout" mvn -q -B -C -f "$pom" \
		dependency:copy-dependencies \
		-DincludeScope=runtime \
		-DoutputDirectory="$tmp" </dev/null 2>&1 | sed $'s/\x1b\\[[0-9;]*m//g' >&2; then
		rm -rf "$tmp"
		die 1 "mvn dependency:copy-dependencies failed for $pom (see the output above)"
	fi
	# Exactly the pinned jars, each with its pinned SHA-256.
	local want got
	want=$(awk '{print $2}' "$sums" | sort)
	got=$(cd "$tmp" && find . -maxdepth 1 -name '*.jar' -printf '%f\n' | sort)
	if [[ $want != "$got" ]]; then
		log "Maven copied other jars than $sums pins:"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
		rm -rf "$tmp"
		die 1 "update $sums (or the pom)"
	fi
	if ! (cd "$tmp" && sha256sum --quiet -c "$sums") >&2; then
		log "found: $(cd "$tmp" && sha256sum ./*.jar | tr '\n' ' ')"
		rm -rf "$tmp"
		die 1 "a fetched jar does not match its SHA-256 in $sums"
	fi
	touch "$tmp/.complete"
	rm -rf "$libs"
	mv "$tmp" "$libs"
	log "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1))"
}

check_java
fetch_libs
# C1 only and the serial collector: the check is short, startup dominates.
# slf4j-api without a binding says so on stderr; that is noise here.
exec 3>&1
set +e
java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$libs/*" \
	"$dir/FlinkSqlCheck.java" "$@" 2>&1 1>&3 3>&- </dev/null | grep -v '^SLF4J:' >&2
rc=${PIPESTATUS[0]}
exit "$rc"
