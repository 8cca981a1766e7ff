#!/usr/bin/env python3
"""Reads callstream's topics with software we did not write and checks them.

The consumer is Confluent's Python client (librdkafka) with its
AvroDeserializer and SchemaRegistryClient, configured as a Kafka Connect sink
with AvroConverter would be: value = Confluent wire format (magic byte 0,
4-byte schema id, Avro body) resolved through the registry, key = plain UTF-8
string, isolation.level=read_committed.

Every topic is one source read in one Graph API version (a line of the
--topics file, written by run.sh from the harness's lanes.tsv). Every record
is checked against the simulator's ground truth for that source (its truth
file, the Graph JSON the simulator served), field by field; the schema
registered for the topic must be the source's .avsc. A log row is found by
its id and keyed by its key property (its id when that is empty). An
aggregate (pstn-dialout, an upsert stream keyed by UTC day and grouping)
has no id: its truth is one row per (day, grouping) with its record key
(callstream's schemas.DayKey, a JSON array of the day and the grouping
properties), and every key must be on the topic exactly once (the run reads
each day once from a static simulator, so nothing is republished), with
the truth's figures. The expected
Avro values are derived here, independently of callstream's Go code, from
the types of the schema registered for the topic and the conventions it
documents: timestamps in UTC truncated to the millisecond, Graph's
0001-01-01 placeholder as null, decimals (charge, callCharge, ...) exactly,
as Python Decimals (the JSON is read with parse_float=Decimal, so no binary
float stands between Graph's digits and the comparison), an absent property
as null, and properties the schema does not define kept in
additionalProperties as raw JSON text (with a list whose items carry
properties their record does not define kept there whole as well).

A call-records topic (kind records: one Teams call record a message, every
sessions page merged, republished whenever its version grows) is checked
against the simulator's records, one JSON object a line as the fetch client
hands them over: every (id, version) exactly once, keyed by the id, and the
whole nested tree field by field, walked along the registered schema
(graphProperty names the JSON property of a field, graphType Duration marks
an ISO 8601 duration held as microseconds, computed here from the text):
sessions, their caller and callee endpoints, segments, media and streams,
with every level's additionalProperties equal to the JSON's properties the
schema does not define there.

Usage: consume.py --brokers HOST:PORT --topics topics.tsv --registry URL
       --user U --password P [--tenant ID] [--expect-aborted]

topics.tsv: version, source, topic, id property ("-" for an aggregate), key
property, truth file, kind (log, aggregate or records), the .avsc file;
tab-separated, one topic a line. A log's truth file is one Graph row a line;
an aggregate's one {"day", "key", "row"} object a line; a records source's
one call record a line.

Prints one line per problem, then "interop: N passed, M failed" (N counts
rows, and call records by (id, version), that passed; M the problems) and
exits 1 when anything failed.
"""

import argparse
import copy
import datetime as dt
import json
import re
import sys
import time
import uuid
from decimal import Decimal

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

# The id of the row tests/interop/harness writes in an aborted transaction (of
# an aggregate's, which has none: its key property, so a part of its key).
ABORTED_ID = "00000000-0000-0000-0000-0000aborted0"
# The field every schema keeps the properties it does not define in.
UNKNOWN = "additionalProperties"
# The field every schema names the tenant a row was read from in: stamped by
# callstream, not a Graph property (a Graph property of that name would be
# kept in UNKNOWN). --tenant says what it must hold; none is null.
TENANT = "tenantId"
ODATA_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})$"
)


def graph_json(text):
    """Graph JSON with its numbers as written: decimals as Decimal."""
    return json.loads(text, parse_float=Decimal)


def graph_time(s):
    """An OData DateTimeOffset as the schema stores it: UTC, milliseconds."""
    m = ODATA_TIME.match(s)
    if not m:
        raise ValueError(f"not an OData DateTimeOffset: {s!r}")
    y, mo, d, h, mi, sec, frac, zone = m.groups()
    if y == "0001" and mo == "01" and d == "01":
        return None  # Graph's "no value" placeholder
    micros = int((frac or "0").ljust(7, "0")[:6])
    millis_as_micros = micros // 1000 * 1000  # truncate toward the past
    tz = dt.timezone.utc
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    t = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0), millis_as_micros, tzinfo=tz)
    return t.astimezone(dt.timezone.utc)


def kind_of(avro_type):
    """What a field's Avro type means for the expected value: "time",
    "decimal", "int", "double", "bool", "string", "map", ("array", item
    kind) or ("record", {field: kind})."""
    if isinstance(avro_type, list):  # ["null", T]
        branches = [t for t in avro_type if t != "null"]
        if len(branches) != 1:
            raise ValueError(f"unexpected union {avro_type!r}")
        return kind_of(branches[0])
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "timestamp-millis":
            return "time"
        if logical == "decimal":
            return "decimal"
        t = avro_type["type"]
        if t == "array":
            return ("array", kind_of(avro_type["items"]))
        if t == "map":
            return "map"
        if t == "record":
            return ("record", {f["name"]: kind_of(f["type"]) for f in avro_type["fields"]})
        return kind_of(t)
    return {"int": "int", "long": "int", "double": "double", "float": "double",
            "boolean": "bool", "string": "string"}[avro_type]


def expected_value(k, v):
    """(the decoded value a correct producer writes for Graph's value v of a
    field of kind k, whether v holds properties the schema cannot)."""
    if v is None:
        return None, False
    if k == "time":
        return graph_time(v), False
    if k == "decimal":
        return Decimal(v), False
    if k == "int":
        return int(v), False
    if k == "double":
        return float(v), False
    if isinstance(k, tuple) and k[0] == "array":
        out, extra = [], False
        for item in v:
            w, e = expected_value(k[1], item)
            out.append(w)
            extra = extra or e
        return out, extra
    if isinstance(k, tuple) and k[0] == "record":
        fields = k[1]
        out = {}
        extra = bool(set(v) - set(fields))
        for name, fk in fields.items():
            w, e = expected_value(fk, v.get(name))
            out[name] = w
            extra = extra or e
        return out, extra
    return v, False


def expected(graph_row, fields, tenant=None):
    """The decoded Avro record a correct producer writes for one Graph row
    read from tenant (None: callstream was given no tenant id); fields maps
    each schema field to its kind."""
    want = {}
    extra = {}
    for k, v in graph_row.items():
        if k not in fields or k in (UNKNOWN, TENANT):
            extra[k] = v
    for name, k in fields.items():
        if name == UNKNOWN:
            continue
        if name == TENANT:
            want[name] = tenant
            continue
        v = graph_row.get(name)
        want[name], more = expected_value(k, v)
        if more:
            extra[name] = v
    want[UNKNOWN] = extra or None
    return want


def compare(rec, want):
    """Returns a list of differences between a decoded record and want."""
    problems = []
    if set(rec) != set(want):
        problems.append(f"fields {sorted(rec)} != {sorted(want)}")
    for k, w in want.items():
        g = rec.get(k)
        if k == UNKNOWN:
            if w is None:
                if g is not None:
                    problems.append(f"{UNKNOWN} {g!r}, want null")
                continue
            if not isinstance(g, dict) or set(g) != set(w):
                problems.append(f"{UNKNOWN} keys {sorted(g or {})}, want {sorted(w)}")
                continue
            for ek, ev in w.items():
                if graph_json(g[ek]) != ev:
                    problems.append(f"{UNKNOWN}[{ek}] = {g[ek]!r}, want JSON of {ev!r}")
            continue
        if isinstance(w, dt.datetime):
            if not isinstance(g, dt.datetime) or g.astimezone(dt.timezone.utc) != w:
                problems.append(f"{k} = {g!r}, want {w.isoformat()}")
            continue
        if not same(g, w):
            problems.append(f"{k} = {g!r} ({type(g).__name__}), want {w!r} ({type(w).__name__})")
    return problems


def same(g, w):
    """g equals w, of the same types all the way down (a Decimal is no float,
    a bool no int)."""
    if type(g) is not type(w):
        return False
    if isinstance(w, list):
        return len(g) == len(w) and all(same(a, b) for a, b in zip(g, w))
    if isinstance(w, dict):
        return set(g) == set(w) and all(same(g[n], w[n]) for n in w)
    return g == w


def read_all(brokers, topic, isolation, timeout):
    """Every record of every partition, from the start to the end offsets
    at the time of the call, read with the given isolation level. Returns
    (messages, whether every partition was read to its end)."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"callstream-interop-{uuid.uuid4()}",
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    try:
        md = consumer.list_topics(topic, timeout=30)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            raise RuntimeError(f"topic {topic} not found: {tmd and tmd.error}")
        parts = sorted(tmd.partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        done = {p: ends[p] == 0 for p in parts}
        msgs = []
        deadline = time.monotonic() + timeout
        while not all(done.values()) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                # Transaction markers and aborted batches advance the
                # position without delivering a message.
                for p in parts:
                    if not done[p] and consumer.position([TopicPartition(topic, p)])[0].offset >= ends[p]:
                        done[p] = True
                continue
            if msg.error():
                raise KafkaException(msg.error())
            msgs.append(msg)
            if msg.offset() + 1 >= ends[msg.partition()]:
                done[msg.partition()] = True
        return msgs, all(done.values())
    finally:
        consumer.close()


def dump(v):
    """v as JSON text, its Decimals as the numbers they were read from."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v)


def as_decoded(want):
    """want as AvroDeserializer returns it: extras as JSON text."""
    decoded = dict(want)
    if want[UNKNOWN] is not None:
        decoded[UNKNOWN] = {k: dump(v) for k, v in want[UNKNOWN].items()}
    return decoded


def alterations(want, fields):
    """Wrong copies of a correct record, one per kind of value it holds:
    (what, field, wrong value)."""
    for name, k in fields.items():
        w = want.get(name)
        if name == UNKNOWN:
            if w is not None:
                yield "a lost extra property", name, None
            continue
        if w is None:
            yield "a value for a null", name, "x" if k == "string" else 1
            continue
        if k == "time":
            yield "a timestamp 1 ms late", name, w + dt.timedelta(milliseconds=1)
        elif k == "decimal":
            yield "a decimal off by a millionth", name, w + Decimal("0.000001")
            yield "a decimal as a float", name, float(w)
        elif k == "int":
            yield "a changed int", name, w + 1
            yield "an int as a string", name, str(w)
        elif k == "bool":
            yield "a flipped boolean", name, not w
        elif k == "string":
            yield "a changed string", name, w + "x"
            yield "a null for a value", name, None
        elif isinstance(k, tuple) and k[0] == "array":
            yield ("a list item dropped", name, w[1:]) if w else ("a list item added", name, [{"id": None}])


def selftest(truth, fields, lane, tenant=None):
    """Shows the checker is not vacuous: for every kind of value the truth
    holds, an altered copy of a correct record must be reported. Returns the
    kinds tried."""
    tried = set()
    for row in list(truth.values())[:200]:
        good = expected(row, fields, tenant)
        assert compare(as_decoded(good), good) == [], f"{lane}: a correct record was reported"
        for what, name, wrong in alterations(good, fields):
            if (what, name) in tried:
                continue
            tried.add((what, name))
            bad = as_decoded(good)
            bad[name] = wrong
            assert compare(bad, good), f"{lane}: the checker missed {what} in {name}"
    for must in ("a changed string", "a null for a value"):
        assert any(what == must for what, _ in tried), f"{lane}: the truth let the self-test try no {must}"
    return {what for what, _ in tried}


def want_key(row, id_prop, key_prop):
    """The record key of a log row: the key property when a non-empty
    string, else the id (the codecs' fallback)."""
    key = row.get(key_prop)
    return key if isinstance(key, str) and key else row[id_prop]


def load_truth(path, kind, id_prop):
    """The truth file of a topic: {identity: Graph row} and, for an
    aggregate, {identity: day}. A log row's identity is its id; an
    aggregate row's, which has none, is its record key (the day and the
    grouping, a JSON array: schemas.DayKey)."""
    truth, days = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            entry = graph_json(line)
            if kind == "log":
                truth[entry[id_prop]] = entry
                continue
            key = entry["key"]
            if key in truth:
                raise ValueError(f"{path}: the key {key} twice in the truth")
            truth[key], days[key] = entry["row"], entry["day"]
    return truth, days


def key_parts(key):
    """An aggregate key's parts (a JSON array), or None if it is not one."""
    try:
        parts = json.loads(key)
    except (TypeError, ValueError):
        return None
    return parts if isinstance(parts, list) else None


def check_topic(args, registry, lane):
    """Checks one topic against its truth file. Returns (rows passed,
    problems)."""
    version, source, topic, id_prop, key_prop, truth_path, kind, avsc_path = lane
    if kind == "records":
        return check_records(args, registry, lane)
    if kind not in ("log", "aggregate"):
        return 0, [f"{source} ({version}): a source of kind {kind!r}, which this checker does not read"]
    name = f"{source} ({version}) on {topic}"
    truth, days = load_truth(truth_path, kind, id_prop)

    failed = []
    subject = f"{topic}-value"  # TopicNameStrategy, AvroConverter's default
    registered = registry.get_latest_version(subject)
    schema = json.loads(registered.schema.schema_str)
    with open(avsc_path, encoding="utf-8") as f:
        if schema != json.load(f):
            failed.append(f"the schema registered under {subject} is not {avsc_path}")
    fields = {f["name"]: kind_of(f["type"]) for f in schema["fields"]}
    tried = selftest(truth, fields, name, args.tenant or None)
    print(f"{name}: registry {subject} version {registered.version}, schema id {registered.schema_id} "
          f"({schema['name']}, {len(fields)} fields, as in {avsc_path.rsplit('/', 1)[-1]}); "
          f"checker self-test caught {len(tried)} kinds of wrong value")
    deserialize = AvroDeserializer(registry)  # writer schema fetched by the id in each record

    def identity(rec, key):
        """(the row's identity, whether it is the aborted record)."""
        if kind == "log":
            return rec.get(id_prop), rec.get(id_prop) == ABORTED_ID
        return key, ABORTED_ID in (key_parts(key) or [])

    msgs, complete = read_all(args.brokers, topic, "read_committed", args.timeout)
    if not complete:
        failed.append(f"timed out before the end of every partition (read {len(msgs)} records)")
    partitions = len({m.partition() for m in msgs})
    seen, bad = {}, set()
    for msg in msgs:
        value = msg.value()
        where = f"partition {msg.partition()} offset {msg.offset()}"
        if len(value) < 5 or value[0] != 0:
            failed.append(f"{where}: not Confluent-framed")
            continue
        schema_id = int.from_bytes(value[1:5], "big")
        if schema_id != registered.schema_id:
            failed.append(f"{where}: schema id {schema_id}, want {registered.schema_id}")
        rec = deserialize(value, SerializationContext(topic, MessageField.VALUE))
        key = msg.key().decode("utf-8") if msg.key() is not None else None
        ident, aborted = identity(rec, key)
        if aborted:
            failed.append(f"{where}: a record of an aborted transaction was delivered (isolation.level not honoured)")
            continue
        graph_row = truth.get(ident)
        if graph_row is None:
            what = f"{id_prop} {ident!r}" if kind == "log" else f"key {ident!r}"
            failed.append(f"{where}: {what} is not a simulated row")
            continue
        label = f"id {ident}" if kind == "log" else f"key {ident}"
        seen[ident] = seen.get(ident, 0) + 1
        if seen[ident] > 1:
            # A static simulator read once: no (day, grouping) changes, so
            # none is republished either.
            failed.append(f"{where} {label}: repeated")
            bad.add(ident)
            continue
        problems = compare(rec, expected(graph_row, fields, args.tenant or None))
        if kind == "log":
            if key != want_key(graph_row, id_prop, key_prop):
                problems.append(f"key {key!r}, want {want_key(graph_row, id_prop, key_prop)!r} ({key_prop}, else {id_prop})")
        else:
            # The key is the truth's (the lookup above); it also reads as
            # the JSON array of the row's day and then its grouping.
            parts = key_parts(key)
            if not parts or parts[0] != days[ident] or rec.get(key_prop) not in parts[1:]:
                problems.append(f"key {key!r} is not a JSON array of the day {days[ident]} and a grouping with {key_prop}")
        headers = dict(msg.headers() or [])
        if headers.get("callstream.source") != source.encode():
            problems.append(f"header callstream.source = {headers.get('callstream.source')!r}, want {source!r}")
        if problems:
            failed.append(f"{where} {label}: " + "; ".join(problems))
            bad.add(ident)

    if args.expect_aborted:
        # The same topic read_uncommitted must show the aborted record: the
        # read_committed pass above was put to the test, not vacuous.
        raw, _ = read_all(args.brokers, topic, "read_uncommitted", args.timeout)
        aborted = 0
        for m in raw:
            if len(m.value()) > 5:
                rec = deserialize(m.value(), SerializationContext(topic, MessageField.VALUE))
                aborted += identity(rec, m.key().decode("utf-8") if m.key() is not None else None)[1]
        if aborted != 1:
            failed.append(f"read_uncommitted shows {aborted} aborted records, want 1: the isolation check proves nothing")
        else:
            print(f"{name}: read_uncommitted: {len(raw)} records including the aborted one; read_committed: {len(msgs)} without it")

    missing = [i for i in truth if i not in seen]
    if missing:
        failed.append(f"{len(missing)} simulated rows not on the topic, e.g. {missing[:3]}")
    ok = sum(1 for i in seen if i not in bad)
    rows = "simulated rows" if kind == "log" else f"simulated (day, grouping) rows over {len(set(days.values()))} UTC days"
    print(f"{name}: read {len(msgs)} records from {partitions} partitions (read_committed); "
          f"{len(truth)} {rows}; {ok} passed, {len(failed)} failed")
    return ok, [f"{name}: {f}" for f in failed]


# --- call records (kind records) --------------------------------------------------------

# An ISO 8601 duration as Graph writes an Edm.Duration: only the seconds may
# have a fraction.
ISO_DURATION = re.compile(
    r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?)?$"
)
# Graph pages a record's sessions at this many: a record with more was read
# over several requests and merged.
SESSIONS_PAGE = 60


def iso_micros(text):
    """An ISO 8601 duration as a graphType Duration field holds it: (its
    microseconds truncated toward zero, None when years or months give it no
    fixed length; whether the field's additionalProperties must keep the
    text because the number does not say it exactly). Weeks and days are
    fixed, as in Edm.Duration."""
    m = ISO_DURATION.match(text)
    if not m or text.endswith("T") or text.lstrip("-") == "P":
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    neg, years, months, weeks, days, hours, minutes, secs, frac = m.groups()
    if years is not None or months is not None:
        return None, True
    frac = frac or ""
    seconds = (int(weeks or 0) * 7 + int(days or 0)) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0)
    micros = seconds * 1_000_000 + int(frac[:6].ljust(6, "0"))
    return (-micros if neg else micros), frac[6:].strip("0") != ""


# iso_micros on the forms the schema's docs name: (text, microseconds, text
# kept). Checked before a call-records topic is, as the checker's own ground.
ISO_CASES = (
    ("PT0.016S", 16000, False), ("PT0.0161234567S", 16123, True), ("PT0.0160000000S", 16000, False),
    ("PT1M30.5S", 90_500_000, False), ("-PT0.000001S", -1, False), ("P1DT1H", 90_000_000_000, False),
    ("P1W", 604_800_000_000, False), ("P1M", None, True), ("P0Y", None, True),
)


def brief(v):
    """v's repr, cut short: a call record's subtree can be megabytes."""
    r = repr(v)
    return r if len(r) <= 120 else r[:117] + "..."


class RecordsChecker:
    """Compares decoded call records with the JSON Graph served for them,
    level by level along the registered schema: a field reads the JSON
    property its graphProperty names (its own name otherwise); graphType
    Duration fields hold microseconds; timestamps UTC milliseconds; every
    level's additionalProperties holds exactly the properties its fields do
    not read (and a duration's text where the number cannot say it), as raw
    JSON text. stats counts what was compared."""

    def __init__(self, schema, tenant):
        self.top = schema
        self.tenant = tenant
        self.named = {}
        self._collect(schema, schema.get("namespace", ""))
        self.stats = {}

    def _collect(self, t, ns):
        if isinstance(t, list):
            for x in t:
                self._collect(x, ns)
        elif isinstance(t, dict):
            if t.get("type") == "record":
                ns = t.get("namespace", ns)
                self.named[t["name"]] = self.named[f"{ns}.{t['name']}"] = t
                for f in t["fields"]:
                    self._collect(f["type"], ns)
            elif t.get("type") == "array":
                self._collect(t["items"], ns)
            elif t.get("type") == "map":
                self._collect(t["values"], ns)

    def _type(self, t):
        """t without its null branch, a named record resolved."""
        if isinstance(t, list):
            branches = [x for x in t if x != "null"]
            if len(branches) != 1:
                raise ValueError(f"unexpected union {t!r}")
            t = branches[0]
        if isinstance(t, str) and t in self.named:
            return self.named[t]
        return t

    def _count(self, what, n=1):
        self.stats[what] = self.stats.get(what, 0) + n

    def check(self, rec, js):
        """The differences between one decoded record and its JSON."""
        problems = []
        self._level(rec, js, self.top, "", problems, 0)
        return problems

    def _level(self, got, js, rtype, path, problems, depth):
        if not isinstance(got, dict):
            problems.append(f"{path or 'the record'} = {brief(got)}, want a {rtype['name']}")
            return
        names = {f["name"] for f in rtype["fields"]}
        if set(got) != names:
            problems.append(f"{path}: fields {sorted(got)}, want {sorted(names)}")
        read, extra = set(), {}
        for f in rtype["fields"]:
            name = f["name"]
            if name == UNKNOWN:
                continue
            if depth == 0 and name == TENANT:  # callstream's, not Graph's
                if got.get(TENANT) != self.tenant:
                    problems.append(f"{TENANT} = {got.get(TENANT)!r}, want {self.tenant!r}")
                self._count(TENANT)
                continue
            prop = f.get("graphProperty", name)
            read.add(prop)
            self._value(got.get(name), js.get(prop), f, prop, f"{path}{name}", problems, extra, depth)
        for k, v in js.items():
            if k not in read:
                extra[k] = v
        self._unknown(got.get(UNKNOWN), extra, path, problems, depth)

    def _value(self, g, v, f, prop, where, problems, extra, depth):
        t = self._type(f["type"])
        if v is None:
            if g is not None:
                problems.append(f"{where} = {brief(g)}, want null")
            return
        if f.get("graphType") == "Duration":
            want, keep = iso_micros(v)
            if keep:
                extra[prop] = v
            if type(g) is not int and not (g is None and want is None) or g != want:
                problems.append(f"{where} = {brief(g)}, want {want} µs (the JSON's {v!r})")
            self._count("ISO durations")
            if f["name"] == "averageJitter":
                self._count("averageJitter")
            return
        if isinstance(t, dict) and t.get("logicalType") == "timestamp-millis":
            want = graph_time(v)
            if not (g is None and want is None) and (not isinstance(g, dt.datetime) or want is None or g.astimezone(dt.timezone.utc) != want):
                problems.append(f"{where} = {brief(g)}, want {want and want.isoformat()} (the JSON's {v!r})")
            self._count("timestamps")
            return
        if isinstance(t, dict) and t.get("type") == "record":
            self._level(g, v, t, where + ".", problems, depth + 1)
            return
        if isinstance(t, dict) and t.get("type") == "array":
            if not isinstance(g, list) or len(g) != len(v):
                problems.append(f"{where} has {len(g) if isinstance(g, list) else brief(g)} entries, want {len(v)}")
                return
            items = self._type(t["items"])
            self._count(f"{f['name']} entries", len(v))
            for i, (gi, vi) in enumerate(zip(g, v)):
                if isinstance(items, dict) and items.get("type") == "record":
                    self._level(gi, vi, items, f"{where}[{i}].", problems, depth + 1)
                elif not same(gi, vi):
                    problems.append(f"{where}[{i}] = {brief(gi)}, want {brief(vi)}")
            return
        if isinstance(t, dict) and t.get("type") == "map":  # raw JSON text values
            if not isinstance(g, dict) or set(g) != set(v) or any(not same(json.loads(g[k]), v[k]) for k in v):
                problems.append(f"{where} = {brief(g)}, want the JSON texts of {brief(v)}")
            return
        if isinstance(t, dict):
            t = t["type"]
        if t in ("double", "float"):
            ok = isinstance(g, float) and not isinstance(v, bool) and g == float(v)
        elif t in ("int", "long"):
            ok = type(g) is int and type(v) is int and g == v
        else:
            ok = same(g, v)
        if not ok:
            problems.append(f"{where} = {brief(g)}, want {brief(v)}")
        elif f["name"] == "odataType" and where.split(".")[-2:-1] in (["caller"], ["callee"]):
            self._count("caller/callee odataType")

    def _unknown(self, g, extra, path, problems, depth):
        where = f"{path}{UNKNOWN}"
        if not extra:
            if g is not None:
                problems.append(f"{where} = {brief(g)}, want null")
            return
        if not isinstance(g, dict) or set(g) != set(extra):
            problems.append(f"{where} keys {sorted(g or {})}, want {sorted(extra)}")
            return
        for k, v in extra.items():
            try:
                ok = same(json.loads(g[k]), v)
            except ValueError:
                ok = False
            if not ok:
                problems.append(f"{where}[{k}] = {brief(g[k])}, want the JSON text of {brief(v)}")
        if depth > 0:
            self._count("nested additionalProperties entries", len(extra))


def streams_of(rec):
    """Every (path, stream) of a decoded call record."""
    for i, s in enumerate(rec.get("sessions") or []):
        for j, seg in enumerate(s.get("segments") or []):
            for k, m in enumerate(seg.get("media") or []):
                for n, st in enumerate(m.get("streams") or []):
                    yield f"sessions[{i}].segments[{j}].media[{k}].streams[{n}]", st


def records_selftest(checker, rec, js):
    """Shows the records checker is not vacuous: each alteration of a
    decoded record it passed, deep in the tree where it can be, must be
    reported. Returns the alterations tried."""
    stats = dict(checker.stats)
    assert checker.check(rec, js) == [], "the self-test's record does not pass"

    def jitter(r):
        _, st = next((p, st) for p, st in streams_of(r) if st["averageJitter"] is not None)
        st["averageJitter"] += 1

    def nested_unknown(r):
        s = next(s for s in r["sessions"] if s[UNKNOWN])
        k = sorted(s[UNKNOWN])[0]
        s[UNKNOWN][k] = json.dumps(["not", "the", "JSON's"])

    def last_segment_endpoint(r):
        seg = r["sessions"][-1]["segments"][-1]
        seg["callee"]["odataType"] = "#microsoft.graph.callRecords.unknownEndpoint"

    alterations = {
        "an averageJitter 1 µs off": jitter,
        "a caller's odataType changed": lambda r: r["sessions"][0]["caller"].update(odataType="#microsoft.graph.callRecords.x"),
        "a deep callee's odataType changed": last_segment_endpoint,
        "a session lost": lambda r: r["sessions"].pop(),
        "a segment id changed": lambda r: r["sessions"][-1]["segments"][0].update(id="0" * 36),
        "a startDateTime 1 ms late": lambda r: r.update(startDateTime=r["startDateTime"] + dt.timedelta(milliseconds=1)),
        "a session's endDateTime 1 ms late": lambda r: r["sessions"][-1].update(endDateTime=r["sessions"][-1]["endDateTime"] + dt.timedelta(milliseconds=1)),
        "a nested additionalProperties entry changed": nested_unknown,
        "a tenantId set": lambda r: r.update(tenantId="00000000-0000-0000-0000-000000000001"),
        "a version bumped": lambda r: r.update(version=r["version"] + 1),
    }
    for what, alter in alterations.items():
        bad = copy.deepcopy(rec)
        alter(bad)
        assert checker.check(bad, js), f"the call-records checker missed {what}"
    checker.stats = stats
    return list(alterations)


def check_records(args, registry, lane):
    """Checks a call-records topic against its truth file. Returns (call
    records passed, problems)."""
    version, source, topic, id_prop, _, truth_path, _, avsc_path = lane
    name = f"{source} ({version}) on {topic}"
    for text, micros, keep in ISO_CASES:
        assert iso_micros(text) == (micros, keep), f"iso_micros({text!r}) = {iso_micros(text)}, want {(micros, keep)}"
    truth = {}
    with open(truth_path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            ident = (r[id_prop], r["version"])
            if ident in truth:
                raise ValueError(f"{truth_path}: {ident} twice in the truth")
            truth[ident] = r
    if len({i for i, _ in truth}) != len(truth):
        # The simulator's clock stands still: it serves one version of each.
        raise ValueError(f"{truth_path}: a record in two versions")

    failed = []
    subject = f"{topic}-value"
    registered = registry.get_latest_version(subject)
    schema = json.loads(registered.schema.schema_str)
    with open(avsc_path, encoding="utf-8") as f:
        if schema != json.load(f):
            failed.append(f"the schema registered under {subject} is not {avsc_path}")
    checker = RecordsChecker(schema, args.tenant or None)
    deserialize = AvroDeserializer(registry)
    print(f"{name}: registry {subject} version {registered.version}, schema id {registered.schema_id} "
          f"({schema['name']}, {len(checker.named) // 2} record types, as in {avsc_path.rsplit('/', 1)[-1]})")

    msgs, complete = read_all(args.brokers, topic, "read_committed", args.timeout)
    if not complete:
        failed.append(f"timed out before the end of every partition (read {len(msgs)} records)")
    partitions = len({m.partition() for m in msgs})
    seen, bad, sample = {}, set(), None
    for msg in msgs:
        value = msg.value()
        where = f"partition {msg.partition()} offset {msg.offset()}"
        if len(value) < 5 or value[0] != 0:
            failed.append(f"{where}: not Confluent-framed")
            continue
        schema_id = int.from_bytes(value[1:5], "big")
        if schema_id != registered.schema_id:
            failed.append(f"{where}: schema id {schema_id}, want {registered.schema_id}")
        rec = deserialize(value, SerializationContext(topic, MessageField.VALUE))
        key = msg.key().decode("utf-8") if msg.key() is not None else None
        ident = (rec.get(id_prop), rec.get("version"))
        if ident[0] == ABORTED_ID:
            failed.append(f"{where}: a record of an aborted transaction was delivered (isolation.level not honoured)")
            continue
        js = truth.get(ident)
        label = f"call record {ident[0]} version {ident[1]}"
        if js is None:
            failed.append(f"{where}: {label} is not one the simulator serves")
            continue
        seen[ident] = seen.get(ident, 0) + 1
        if seen[ident] > 1:
            failed.append(f"{where} {label}: repeated")
            bad.add(ident)
            continue
        problems = checker.check(rec, js)
        if key != ident[0]:
            problems.append(f"key {key!r}, want the record's {id_prop} {ident[0]!r}")
        headers = dict(msg.headers() or [])
        if headers.get("callstream.source") != source.encode():
            problems.append(f"header callstream.source = {headers.get('callstream.source')!r}, want {source!r}")
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            failed.append(f"{where} {label}: " + "; ".join(problems[:5]) + more)
            bad.add(ident)
        elif sample is None or len(js["sessions"]) > len(sample[1]["sessions"]):
            sample = (rec, js)

    if sample is not None:
        tried = records_selftest(checker, *sample)
        print(f"{name}: checker self-test on a record of {len(sample[1]['sessions'])} sessions caught {len(tried)} kinds of wrong value")

    if args.expect_aborted:
        raw, _ = read_all(args.brokers, topic, "read_uncommitted", args.timeout)
        aborted = sum(1 for m in raw if len(m.value()) > 5 and
                      deserialize(m.value(), SerializationContext(topic, MessageField.VALUE)).get(id_prop) == ABORTED_ID)
        if aborted != 1:
            failed.append(f"read_uncommitted shows {aborted} aborted records, want 1: the isolation check proves nothing")
        else:
            print(f"{name}: read_uncommitted: {len(raw)} records including the aborted one; read_committed: {len(msgs)} without it")

    missing = [i for i in truth if i not in seen]
    if missing:
        failed.append(f"{len(missing)} simulated call records not on the topic, e.g. {missing[:3]}")
    ok = sum(1 for i in seen if i not in bad)
    large = sum(1 for i in seen if len(truth[i]["sessions"]) > SESSIONS_PAGE)
    updated = sum(1 for _, v in seen if v > 1)
    st = checker.stats
    # The lane must have put the nested checks to work, not passed them by.
    for what, n in (("records of over 60 sessions", large), ("records in a version above 1", updated),
                    ("averageJitter", st.get("averageJitter", 0)),
                    ("caller/callee odataType", st.get("caller/callee odataType", 0)),
                    ("nested additionalProperties entries", st.get("nested additionalProperties entries", 0))):
        if seen and n == 0:
            failed.append(f"the topic held no {what} to check")
    print(f"{name}: read {len(msgs)} records from {partitions} partitions (read_committed); "
          f"{len(truth)} simulated call records ({large} of over {SESSIONS_PAGE} sessions, {updated} in a version above 1); "
          f"compared {st.get('sessions entries', 0)} sessions, {st.get('segments entries', 0)} segments, "
          f"{st.get('media entries', 0)} media, {st.get('streams entries', 0)} streams, "
          f"{st.get('ISO durations', 0)} ISO durations ({st.get('averageJitter', 0)} averageJitter), "
          f"{st.get('timestamps', 0)} timestamps, {st.get('caller/callee odataType', 0)} caller/callee odataTypes, "
          f"{st.get('nested additionalProperties entries', 0)} nested additionalProperties entries; "
          f"{ok} passed, {len(failed)} failed")
    return ok, [f"{name}: {f}" for f in failed]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topics", required=True, help="version, source, topic, id property, key property, truth file, kind (log, aggregate, records), .avsc; tab-separated")
    ap.add_argument("--registry", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--tenant", default="",
                    help="the tenant id every record's tenantId must hold; empty (the default, a run with a bare access token) expects null")
    ap.add_argument("--expect-aborted", action="store_true",
                    help="every topic holds one record (id property, or in an aggregate's key, ABORTED_ID) in an aborted transaction")
    args = ap.parse_args()

    with open(args.topics, encoding="utf-8") as f:
        lanes = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if not lanes:
        print("FAIL no topic to check")
        print("interop: 0 passed, 1 failed")
        return 1
    registry = SchemaRegistryClient({"url": args.registry, "basic.auth.user.info": f"{args.user}:{args.password}"})
    passed, failed = 0, []
    for lane in lanes:
        ok, problems = check_topic(args, registry, lane)
        passed += ok
        failed += problems

    for f in failed[:20]:
        print("FAIL", f)
    if len(failed) > 20:
        print(f"... and {len(failed) - 20} more")
    print(f"checked {len(lanes)} topics: " + ", ".join(f"{l[1]} ({l[0]})" for l in lanes))
    print(f"interop: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
