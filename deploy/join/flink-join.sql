-- Flink SQL: a per-call quality view that joins Teams call records with the
-- Direct Routing and PSTN rows of the same call, as callstream writes them.
--
-- Run it with Flink's SQL client (sql-client.sh -f flink-join.sql) on Flink
-- 1.20 or 2.x with the Kafka SQL connector (flink-sql-connector-kafka) and
-- the Confluent Avro format (flink-sql-avro-confluent-registry) on the
-- classpath. deploy/join_test.go parses every statement with Flink's own SQL
-- parser (scripts/flink-sql-check.sh) and checks the table definitions
-- against callstream's topics and .avsc schemas.
--
-- Adapt before use: the bootstrap servers, the Schema Registry URL (add
-- 'value.avro-confluent.basic-auth.*' or 'properties.sasl.*' as your
-- cluster needs), the topic names if you changed KAFKA_TOPIC,
-- KAFKA_PSTN_TOPIC or KAFKA_CALLRECORDS_TOPIC, the consumer group, and the
-- output table.
--
-- Why it can join without repartitioning: callstream keys call records by
-- their id, Direct Routing rows by correlationId and PSTN rows by callId, and
-- its producer hashes keys as Kafka's default partitioner does (murmur2). Where
-- a row's correlationId (callId) equals the call record's id — users report
-- it does; Microsoft does not document it — the three land in the same
-- partition number, provided the topics have the SAME partition count (see
-- the README, "Joining call records with Direct Routing and PSTN rows").
-- Flink itself still shuffles by the join key; equal partitioning is what a
-- Kafka Streams join or a per-partition consumer needs, and what keeps the
-- kafka_partition columns below equal for the rows that join.

-- Event-time bookkeeping is per Kafka partition: a partition without new rows
-- (a quiet tenant) would hold every watermark back; after this long idle it
-- stops counting.
SET 'table.exec.source.idle-timeout' = '10 min';

-- The call records, one Kafka record per version of a record: a record is
-- published when callstream first reads it and again each time its version
-- grows (Graph updates records after the call). Only the columns this job
-- reads are declared: the Avro reader schema Flink derives from them is
-- resolved against the writer schema of each record (from the registry), so
-- every name below must be a field of schemas/CallRecord.avsc, nested ones
-- included — deploy/join_test.go checks that.
CREATE TABLE call_records (
  -- The Kafka key: the call record id as plain UTF-8.
  record_key STRING,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  id STRING,
  version BIGINT,
  `type` STRING,
  modalities ARRAY<STRING>,
  -- Graph's DateTimeOffsets are Avro timestamp-millis: TIMESTAMP(3) in UTC.
  startDateTime TIMESTAMP(3),
  endDateTime TIMESTAMP(3),
  lastModifiedDateTime TIMESTAMP(3),
  -- sessions -> segments -> media -> streams. A ROW names the fields it
  -- reads in the order the UNNEST aliases below list them.
  sessions ARRAY<ROW<
    id STRING,
    segments ARRAY<ROW<
      id STRING,
      media ARRAY<ROW<
        label STRING,
        streams ARRAY<ROW<
          streamId STRING,
          streamDirection STRING,
          -- Jitter and round-trip time: microseconds (Graph's ISO 8601
          -- durations as numbers); packet loss: a rate between 0 and 1.
          averageJitter BIGINT,
          maxJitter BIGINT,
          averagePacketLossRate DOUBLE,
          maxPacketLossRate DOUBLE,
          averageRoundTripTime BIGINT,
          maxRoundTripTime BIGINT
        >>
      >>
    >>
  >>,
  tenantId STRING,
  -- How late a row may arrive and still join. callstream publishes late
  -- records (and new versions) when it re-reads a window at its
  -- RESCAN_AFTER ages (default 1h,6h,24h,72h, each up to half as late
  -- again): a record first read 4.5 days after its call is older than a
  -- shorter delay would allow and the interval joins drop it. A shorter
  -- delay keeps less state and drops what comes later.
  WATERMARK FOR startDateTime AS startDateTime - INTERVAL '5' DAY
) WITH (
  'connector' = 'kafka',
  'topic' = 'teams.callrecords',
  'properties.bootstrap.servers' = 'kafka:9092',
  'properties.group.id' = 'callstream-call-quality',
  -- callstream writes in Kafka transactions (CHECKPOINT_STORE=kafka): read
  -- only committed records, or aborted ones would join too.
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  'key.format' = 'raw',
  'key.fields' = 'record_key',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = 'http://schema-registry:8081',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Direct Routing rows (schemas/DirectRoutingLogRow.avsc), keyed by
-- correlationId. Several rows can share a correlationId (a transfer, a
-- forward): each joins the call record.
CREATE TABLE direct_routing_calls (
  correlation_key STRING,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  id STRING,
  correlationId STRING,
  userId STRING,
  inviteDateTime TIMESTAMP(3),
  startDateTime TIMESTAMP(3),
  failureDateTime TIMESTAMP(3),
  endDateTime TIMESTAMP(3),
  duration INT,
  callType STRING,
  successfulCall BOOLEAN,
  callerNumber STRING,
  calleeNumber STRING,
  finalSipCode INT,
  finalSipCodePhrase STRING,
  callEndSubReason INT,
  trunkFullyQualifiedDomainName STRING,
  mediaBypassEnabled BOOLEAN,
  tenantId STRING,
  -- A failed call has no start: its invite is when it happened.
  event_time AS COALESCE(inviteDateTime, startDateTime, failureDateTime),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' DAY
) WITH (
  'connector' = 'kafka',
  'topic' = 'teams.directrouting.calls',
  'properties.bootstrap.servers' = 'kafka:9092',
  'properties.group.id' = 'callstream-call-quality',
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  'key.format' = 'raw',
  'key.fields' = 'correlation_key',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = 'http://schema-registry:8081',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- PSTN rows (Calling Plan and Operator Connect; schemas/PstnCallLogRow.avsc),
-- keyed by callId.
CREATE TABLE pstn_calls (
  call_key STRING,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  id STRING,
  callId STRING,
  userId STRING,
  startDateTime TIMESTAMP(3),
  endDateTime TIMESTAMP(3),
  duration INT,
  callType STRING,
  callerNumber STRING,
  calleeNumber STRING,
  -- Avro decimal(18,6): exact, never a float.
  charge DECIMAL(18, 6),
  currency STRING,
  tenantId STRING,
  WATERMARK FOR startDateTime AS startDateTime - INTERVAL '5' DAY
) WITH (
  'connector' = 'kafka',
  'topic' = 'teams.pstn.calls',
  'properties.bootstrap.servers' = 'kafka:9092',
  'properties.group.id' = 'callstream-call-quality',
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  'key.format' = 'raw',
  'key.fields' = 'call_key',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = 'http://schema-registry:8081',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- The output: one row per call record and phone leg, the latest version's
-- figures. It is an updating result (a newer version replaces the row), so
-- the sink must upsert by the primary key: upsert-kafka here (a compacted
-- topic), or a JDBC/Iceberg/Paimon table with the same primary key.
CREATE TABLE call_quality (
  record_id STRING NOT NULL,
  leg_source STRING NOT NULL,
  leg_id STRING NOT NULL,
  version BIGINT,
  call_start TIMESTAMP(3),
  call_end TIMESTAMP(3),
  caller_number STRING,
  callee_number STRING,
  final_sip_code INT,
  final_sip_code_phrase STRING,
  call_end_sub_reason INT,
  trunk STRING,
  charge DECIMAL(18, 6),
  currency STRING,
  streams BIGINT,
  worst_packet_loss_rate DOUBLE,
  worst_average_packet_loss_rate DOUBLE,
  worst_jitter_us BIGINT,
  worst_round_trip_us BIGINT,
  same_partition BOOLEAN,
  tenant_id STRING,
  PRIMARY KEY (record_id, leg_source, leg_id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = 'teams.callquality',
  'properties.bootstrap.servers' = 'kafka:9092',
  'key.format' = 'json',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = 'http://schema-registry:8081'
);

-- The phone legs of each call record version: interval joins on the call id
-- within a bounded time around the call's start (a transfer's row can start
-- well after the call did), so Flink can drop join state once the watermarks
-- pass. Two inner joins and a UNION ALL rather than LEFT JOINs: a left
-- interval join emits an unmatched row only when the watermark passes its
-- interval — days later with the delays above — while inner joins emit each
-- match at once. A call record with neither kind of leg (a Teams-to-Teams
-- call, a meeting without dial-in) is not in this view.
CREATE TEMPORARY VIEW phone_legs AS
SELECT
  cr.id AS record_id,
  'direct-routing' AS leg_source,
  dr.id AS leg_id,
  cr.version,
  cr.startDateTime AS call_start,
  cr.endDateTime AS call_end,
  cr.sessions,
  dr.callerNumber AS caller_number,
  dr.calleeNumber AS callee_number,
  dr.finalSipCode AS final_sip_code,
  dr.finalSipCodePhrase AS final_sip_code_phrase,
  dr.callEndSubReason AS call_end_sub_reason,
  dr.trunkFullyQualifiedDomainName AS trunk,
  CAST(NULL AS DECIMAL(18, 6)) AS charge,
  CAST(NULL AS STRING) AS currency,
  cr.kafka_partition = dr.kafka_partition AS same_partition,
  cr.tenantId AS tenant_id
FROM call_records AS cr
JOIN direct_routing_calls AS dr
  ON dr.correlationId = cr.id
  AND dr.event_time BETWEEN cr.startDateTime - INTERVAL '15' MINUTE
                        AND cr.startDateTime + INTERVAL '4' HOUR
UNION ALL
SELECT
  cr.id,
  'pstn',
  p.id,
  cr.version,
  cr.startDateTime,
  cr.endDateTime,
  cr.sessions,
  p.callerNumber,
  p.calleeNumber,
  CAST(NULL AS INT),
  CAST(NULL AS STRING),
  CAST(NULL AS INT),
  CAST(NULL AS STRING),
  p.charge,
  p.currency,
  cr.kafka_partition = p.kafka_partition,
  cr.tenantId
FROM call_records AS cr
JOIN pstn_calls AS p
  ON p.callId = cr.id
  AND p.startDateTime BETWEEN cr.startDateTime - INTERVAL '15' MINUTE
                          AND cr.startDateTime + INTERVAL '4' HOUR;

-- The worst media stream of each leg and version: UNNEST flattens sessions,
-- their segments, their media and the media's streams into one row per
-- stream (the aliases name the ROW fields in their declared order). A
-- version without any stream (no media was reported) drops out here.
CREATE TEMPORARY VIEW leg_quality AS
SELECT
  l.record_id,
  l.leg_source,
  l.leg_id,
  l.version,
  l.call_start,
  l.call_end,
  l.caller_number,
  l.callee_number,
  l.final_sip_code,
  l.final_sip_code_phrase,
  l.call_end_sub_reason,
  l.trunk,
  l.charge,
  l.currency,
  COUNT(*) AS streams,
  MAX(st.max_loss) AS worst_packet_loss_rate,
  MAX(st.avg_loss) AS worst_average_packet_loss_rate,
  MAX(st.max_jitter) AS worst_jitter_us,
  MAX(st.max_rtt) AS worst_round_trip_us,
  l.same_partition,
  l.tenant_id
FROM phone_legs AS l
CROSS JOIN UNNEST(l.sessions) AS s (session_id, segments)
CROSS JOIN UNNEST(s.segments) AS g (segment_id, media)
CROSS JOIN UNNEST(g.media) AS m (label, media_streams)
CROSS JOIN UNNEST(m.media_streams)
  AS st (stream_id, direction, avg_jitter, max_jitter, avg_loss, max_loss, avg_rtt, max_rtt)
GROUP BY
  l.record_id, l.leg_source, l.leg_id, l.version, l.call_start, l.call_end,
  l.caller_number, l.callee_number, l.final_sip_code, l.final_sip_code_phrase,
  l.call_end_sub_reason, l.trunk, l.charge, l.currency, l.same_partition,
  l.tenant_id;

-- Keep only the latest version of each call record's leg: versions are
-- republished as Graph updates the record, and the highest one is the final
-- state. ROW_NUMBER over version (not arrival order) also holds when an older
-- version arrives after a newer one. The GROUP BY and this ranking keep state
-- per key; bound it with 'table.exec.state.ttl' longer than a record can
-- still change (Graph keeps call records 30 days).
INSERT INTO call_quality
SELECT
  record_id, leg_source, leg_id, version, call_start, call_end,
  caller_number, callee_number, final_sip_code, final_sip_code_phrase,
  call_end_sub_reason, trunk, charge, currency, streams,
  worst_packet_loss_rate, worst_average_packet_loss_rate, worst_jitter_us,
  worst_round_trip_us, same_partition, tenant_id
FROM (
  SELECT *,
    ROW_NUMBER() OVER (
      PARTITION BY record_id, leg_source, leg_id
      ORDER BY version DESC) AS rn
  FROM leg_quality
)
WHERE rn = 1;
