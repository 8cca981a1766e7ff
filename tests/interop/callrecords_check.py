"""Decodes the call-record golden bodies of package schemas with Confluent's
Python client (confluent_kafka's AvroDeserializer, over a mock Schema
Registry holding schemas/CallRecord.avsc) and checks nested fields.

The call-records lane of run.sh (consume.py's check_records) reads what
callstream wrote of simulated records from a real broker; this check adds
what the simulator does not serve: a duration of months (null, its text in
additionalProperties), one with digits past the microsecond, feedback
tokens, a session without segments. The bodies are the codec's own output
(schemas/testdata/callrecord_*.avro, pinned by TestCallRecordGolden),
framed in the Confluent wire format here.

Usage: python3 callrecords_check.py <repository root>
"""

import struct
import sys
from pathlib import Path

from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

TENANT = "11111111-2222-3333-4444-555555555555"


def main(root):
    root = Path(root)
    client = MockSchemaRegistryClient({"url": "mock://callrecords"})
    schema_id = client.register_schema("teams.callrecords-value", Schema((root / "schemas/CallRecord.avsc").read_text(), "AVRO"))
    des = AvroDeserializer(client)
    ctx = SerializationContext("teams.callrecords", MessageField.VALUE)

    def decode(name):
        body = (root / "schemas/testdata" / name).read_bytes()
        return des(b"\x00" + struct.pack(">I", schema_id) + body, ctx)

    failures = []

    def want(rec, path, expected):
        v = rec
        for part in path.split("."):
            name, _, idx = part.partition("[")
            v = v[name]
            if idx:
                v = v[int(idx.rstrip("]"))]
        if v != expected:
            failures.append(f"{path} = {v!r}, want {expected!r}")

    docs = decode("callrecord_docs.avro")
    want(docs, "id", "e523d2ed-2966-4b6b-925b-754a88034cc5")
    want(docs, "version", 1)
    want(docs, "sessions[0].segments[0].media[0].streams[0].averageJitter", 16000)
    want(docs, "sessions[0].caller.odataType", "#microsoft.graph.callRecords.participantEndpoint")
    want(docs, "sessions[0].callee.userAgent.odataType", "#microsoft.graph.callRecords.clientUserAgent")
    want(docs, "sessions[0].additionalProperties", {"isTest": "false"})
    want(docs, "tenantId", TENANT)

    full = decode("callrecord_full.avro")
    s = "sessions[1].segments[0].media[0].streams[1]."
    want(full, s + "averageJitter", 16123)
    want(full, s + "maxJitter", None)
    want(full, s + "additionalProperties", {"averageJitter": '"PT0.0161234567S"', "maxJitter": '"P1M"', "streamExtra": '{"k":"v"}'})
    want(full, "sessions[1].segments[0].media[0].streams[0].maxRoundTripTime", 93_600_000_000)
    want(full, "sessions[0].callee.odataType", "#microsoft.graph.callRecords.serviceEndpoint")
    want(full, "sessions[0].callee.userAgent.role", "mediationServer")
    want(full, "sessions[0].caller.feedback.tokens", {"Echo": "true", "NoSound": "false"})
    want(full, "sessions[2].segments", [])
    want(full, "endDateTime", None)
    want(full, "tenantId", TENANT)
    if full["startDateTime"].isoformat() != "2026-03-02T09:00:00.999000+00:00":
        failures.append(f"startDateTime = {full['startDateTime']!r}")

    for f in failures:
        print("callrecords_check:", f, file=sys.stderr)
    if failures:
        sys.exit(1)
    print("callrecords_check: both call records decoded by confluent_kafka's AvroDeserializer, nested fields as expected")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
