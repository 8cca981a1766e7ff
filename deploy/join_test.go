package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/callstream/callstream/sources"
)

// joinSQL is the example join of call records with Direct Routing and PSTN
// rows.
const joinSQL = "join/flink-join.sql"

// joinTables maps each Kafka source table of the example to the callstream
// source whose topic it reads.
var joinTables = map[string]string{
	"call_records":         "call-records",
	"direct_routing_calls": "direct-routing",
	"pstn_calls":           "pstn",
}

// TestFlinkJoinParsesWithFlinkParser runs Flink's own SQL parser over every
// statement of the example, and over a copy with one comma missing, to show
// the check rejects what Flink would. It needs Java 17+ and, the first time,
// Maven and Maven Central (the jars are cached under .cache/flink-sql): with
// neither it fails rather than pass unchecked; -short skips it.
func TestFlinkJoinParsesWithFlinkParser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not starting a JVM for Flink's SQL parser")
	}
	good, err := filepath.Abs(joinSQL)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// A comma lost between two columns of the first table: a mistake Flink's
	// parser rejects at the next column, naming that statement.
	const column = "  version BIGINT,\n"
	if n := bytes.Count(src, []byte(column)); n < 1 {
		t.Fatalf("%s has no %q column to break", joinSQL, strings.TrimSpace(column))
	}
	broken := filepath.Join(t.TempDir(), "broken.sql")
	if err := os.WriteFile(broken, bytes.Replace(src, []byte(column), []byte("  version BIGINT\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// One JVM for both files: its start is most of the cost.
	cmd := exec.CommandContext(ctx, "../scripts/flink-sql-check.sh", good, broken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("flink-sql-check.sh took %v", time.Since(start).Round(time.Millisecond))
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("flink-sql-check.sh: %v, want exit status 1 (the broken copy)\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	switch exit.ExitCode() {
	case 1:
	case 3:
		t.Fatalf("Flink's SQL parser is not available, so the example join is unchecked: %s", &stderr)
	default:
		t.Fatalf("flink-sql-check.sh: %v, want exit status 1 (the broken copy)\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per file, got:\n%s\nstderr:\n%s", &stdout, &stderr)
	}
	if want := regexp.MustCompile(`^ok ` + regexp.QuoteMeta(good) + `: (\d+) statements$`); !want.MatchString(lines[0]) {
		t.Errorf("the example does not parse:\n%s", lines[0])
	} else if n := want.FindStringSubmatch(lines[0])[1]; n != fmt.Sprint(len(splitStatements(string(src)))) {
		t.Errorf("parsed %s statements, the file has %d", n, len(splitStatements(string(src))))
	}
	// The error names the statement (the second: the call_records table),
	// where it starts, and the position of the column after the lost comma.
	wantLine := 1 + bytes.Count(src[:bytes.Index(src, []byte(column))], []byte("\n")) + 1
	wantFail := regexp.MustCompile(`^FAIL ` + regexp.QuoteMeta(broken) +
		`: statement 2 \(starting line \d+: CREATE TABLE call_records \(\): line ` + fmt.Sprint(wantLine) + `, column \d+: .+`)
	if !wantFail.MatchString(lines[1]) {
		t.Errorf("the broken copy's failure does not name the statement and line %d:\n%s", wantLine, lines[1])
	}
}

// TestFlinkJoinTablesMatchTopicsAndSchemas checks the example's Kafka
// tables against what callstream writes: the source's default topic, the
// key as raw UTF-8, Confluent Avro values read committed, and every value
// column — nested ROW fields included — a field of the source's .avsc with
// a type Flink's Avro format maps it to. A misspelt column would otherwise
// not fail in Flink: the reader schema gives it a null default, and it reads
// as null for ever.
func TestFlinkJoinTablesMatchTopicsAndSchemas(t *testing.T) {
	src, err := os.ReadFile(joinSQL)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := parseFlinkTables(string(src))
	if err != nil {
		t.Fatalf("%s: %v", joinSQL, err)
	}
	for table, source := range joinTables {
		t.Run(table, func(t *testing.T) {
			tb, ok := tables[table]
			if !ok {
				t.Fatalf("no CREATE TABLE %s", table)
			}
			s := sources.MustLookup(source)
			want := map[string]string{
				"connector":    "kafka",
				"topic":        s.DefaultTopic,
				"key.format":   "raw",
				"value.format": "avro-confluent",
				// The key column is not a value field.
				"value.fields-include": "EXCEPT_KEY",
				// callstream writes in transactions: aborted ones must not join.
				"properties.isolation.level": "read_committed",
			}
			for k, v := range want {
				if got := tb.with[k]; got != v {
					t.Errorf("'%s' = %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"value.avro-confluent.url", "properties.bootstrap.servers"} {
				if tb.with[k] == "" {
					t.Errorf("no '%s'", k)
				}
			}
			// The key is the source's key property as plain UTF-8: one
			// STRING column, not a value field.
			key := tb.with["key.fields"]
			kc, ok := tb.column(key)
			switch {
			case key == "" || strings.Contains(key, ";"):
				t.Errorf("'key.fields' = %q, want the one key column", key)
			case !ok || kc.typ.name != "STRING" || kc.metadata || kc.computed:
				t.Errorf("key column %q: want a physical STRING column", key)
			}
			if _, ok := tb.column(s.KeyProperty); !ok {
				t.Errorf("no column %s (the key property)", s.KeyProperty)
			}
			if tb.watermark == "" {
				t.Error("no WATERMARK")
			} else if wc, ok := tb.column(tb.watermark); !ok || (!wc.computed && wc.typ.String() != "TIMESTAMP(3)") {
				t.Errorf("WATERMARK FOR %s: want a TIMESTAMP(3) column", tb.watermark)
			}

			var value []flinkColumn
			for _, c := range tb.columns {
				if !c.computed && !c.metadata && c.name != key {
					value = append(value, c)
				}
			}
			path := filepath.Join("..", "schemas", s.Record+".avsc")
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) && source == "call-records" {
				// Until the schema lands, the names Graph documents for
				// callRecord, session, segment, media and mediaStream.
				t.Logf("%s not there yet: checking the value columns against Graph's documented property names only", path)
				for _, c := range value {
					checkGraphNames(t, table, c.name, c.typ, "")
				}
				t.Skipf("%s does not exist yet: the column-by-column type check against it is skipped (it runs once the schema lands)", path)
			}
			if err != nil {
				t.Fatal(err)
			}
			sch, err := loadAvro(b)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, c := range value {
				f, ok := sch.field(sch.root, c.name)
				if !ok {
					t.Errorf("%s.%s: no field %s in %s", table, c.name, c.name, path)
					continue
				}
				if err := sch.fits(c.typ, f, table+"."+c.name); err != nil {
					t.Errorf("%v (%s)", err, path)
				}
			}
		})
	}

	// The joins pair each row's key property with the call record's id: the
	// equality that puts them in one partition.
	cr := sources.MustLookup("call-records").KeyProperty
	for _, source := range []string{"direct-routing", "pstn"} {
		k := sources.MustLookup(source).KeyProperty
		on := regexp.MustCompile(`(?i)\bON\s+\w+\.` + k + `\s*=\s*cr\.` + cr + `\b`)
		if !on.Match(src) {
			t.Errorf("no join ON <%s row>.%s = cr.%s", source, k, cr)
		}
	}
}

// graphCallRecord is the tree of property names Graph documents for
// callRecord and the types below it that the example reads (a nil subtree:
// a leaf).
var graphCallRecord = map[string]map[string]any{
	"": {"id": nil, "version": nil, "type": nil, "modalities": nil, "lastModifiedDateTime": nil,
		"startDateTime": nil, "endDateTime": nil, "joinWebUrl": nil, "organizer_v2": nil,
		"participants_v2": nil, "sessions": "session", "additionalProperties": nil, "tenantId": nil},
	"session": {"id": nil, "modalities": nil, "startDateTime": nil, "endDateTime": nil, "isTest": nil,
		"caller": nil, "callee": nil, "failureInfo": nil, "segments": "segment"},
	"segment": {"id": nil, "startDateTime": nil, "endDateTime": nil, "caller": nil, "callee": nil,
		"failureInfo": nil, "media": "media"},
	"media": {"label": nil, "callerDevice": nil, "calleeDevice": nil, "callerNetwork": nil,
		"calleeNetwork": nil, "streams": "mediaStream"},
	"mediaStream": {"streamId": nil, "streamDirection": nil, "averageJitter": nil, "maxJitter": nil,
		"averagePacketLossRate": nil, "maxPacketLossRate": nil, "averageRoundTripTime": nil,
		"maxRoundTripTime": nil, "averageAudioDegradation": nil, "averageBandwidthEstimate": nil,
		"averageRatioOfConcealedSamples": nil, "averageAudioNetworkJitter": nil,
		"maxAudioNetworkJitter": nil, "packetUtilization": nil, "lowVideoProcessingCapabilityRatio": nil,
		"averageFreezeDuration": nil, "averageVideoFrameLossPercentage": nil,
		"averageVideoFrameRate": nil, "averageVideoPacketLossRate": nil, "endDateTime": nil,
		"startDateTime": nil, "wasMediaBypassed": nil, "isAudioForwardErrorCorrectionUsed": nil,
		"postForwardErrorCorrectionPacketLossRate": nil, "rmsFreezeDuration": nil,
		"lowFrameRateRatio": nil, "audioCodec": nil, "videoCodec": nil},
}

// checkGraphNames checks a column (and its nested ROW fields) against
// graphCallRecord's names for the type called in.
func checkGraphNames(t *testing.T, where, name string, typ flinkType, in string) {
	t.Helper()
	sub, ok := graphCallRecord[in][name]
	if !ok {
		t.Errorf("%s.%s: Graph documents no property %s on %s", where, name, name, cmpName(in))
		return
	}
	for typ.name == "ARRAY" {
		typ = typ.args[0]
	}
	if typ.name != "ROW" {
		return
	}
	next, _ := sub.(string)
	if next == "" {
		t.Errorf("%s.%s: a ROW where Graph documents no nested type", where, name)
		return
	}
	for _, f := range typ.fields {
		checkGraphNames(t, where+"."+name, f.name, f.typ, next)
	}
}

func cmpName(in string) string {
	if in == "" {
		return "callRecord"
	}
	return in
}

// flinkTable is what the test reads of one CREATE TABLE.
type flinkTable struct {
	columns   []flinkColumn
	watermark string
	with      map[string]string
}

func (t flinkTable) column(name string) (flinkColumn, bool) {
	for _, c := range t.columns {
		if c.name == name {
			return c, true
		}
	}
	return flinkColumn{}, false
}

// flinkColumn is one column: physical, METADATA or computed (AS expr).
type flinkColumn struct {
	name     string
	typ      flinkType
	metadata bool
	computed bool
}

// flinkType is a Flink SQL data type: a name with its parameters
// (DECIMAL(18, 6)), element types (ARRAY, MAP) or fields (ROW).
type flinkType struct {
	name   string
	params []string
	args   []flinkType
	fields []flinkField
}

type flinkField struct {
	name string
	typ  flinkType
}

func (t flinkType) String() string {
	s := t.name
	if len(t.params) > 0 {
		s += "(" + strings.Join(t.params, ", ") + ")"
	}
	if len(t.args) > 0 {
		var a []string
		for _, x := range t.args {
			a = append(a, x.String())
		}
		s += "<" + strings.Join(a, ", ") + ">"
	}
	if t.name == "ROW" {
		var a []string
		for _, f := range t.fields {
			a = append(a, f.name+" "+f.typ.String())
		}
		s += "<" + strings.Join(a, ", ") + ">"
	}
	return s
}

// sqlTokens splits SQL into identifiers (backquotes removed, marked by a
// leading "`" to keep them apart from keywords), 'string literals' (quotes
// kept, ” unescaped), numbers and single-character punctuation, dropping
// comments.
func sqlTokens(sql string) ([]string, error) {
	var out []string
	r := []rune(sql)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
		case c == '-' && i+1 < len(r) && r[i+1] == '-':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			for i += 2; i+1 < len(r) && (r[i] != '*' || r[i+1] != '/'); i++ {
			}
			if i+1 >= len(r) {
				return nil, errors.New("unterminated /* comment")
			}
			i++
		case c == '\'':
			var b strings.Builder
			for i++; ; i++ {
				if i >= len(r) {
					return nil, errors.New("unterminated string literal")
				}
				if r[i] == '\'' {
					if i+1 < len(r) && r[i+1] == '\'' {
						b.WriteRune('\'')
						i++
						continue
					}
					break
				}
				b.WriteRune(r[i])
			}
			out = append(out, "'"+b.String()+"'")
		case c == '`':
			j := i + 1
			for j < len(r) && r[j] != '`' {
				j++
			}
			if j >= len(r) {
				return nil, errors.New("unterminated `identifier`")
			}
			out = append(out, "`"+string(r[i+1:j]))
			i = j
		case unicode.IsLetter(c) || c == '_' || unicode.IsDigit(c):
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_') {
				j++
			}
			out = append(out, string(r[i:j]))
			i = j - 1
		default:
			out = append(out, string(c))
		}
	}
	return out, nil
}

// splitStatements splits SQL at top-level semicolons, dropping empty
// statements (only comments).
func splitStatements(sql string) [][]string {
	toks, err := sqlTokens(sql)
	if err != nil {
		return nil
	}
	var out [][]string
	var cur []string
	for _, tk := range toks {
		if tk == ";" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, tk)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// ident is the identifier a token names, and whether it is one.
func ident(tk string) (string, bool) {
	if strings.HasPrefix(tk, "`") {
		return tk[1:], true
	}
	if tk == "" || !(unicode.IsLetter([]rune(tk)[0]) || tk[0] == '_') {
		return "", false
	}
	return tk, true
}

// parseFlinkTables reads the CREATE TABLE statements of a Flink SQL script.
func parseFlinkTables(sql string) (map[string]flinkTable, error) {
	if _, err := sqlTokens(sql); err != nil {
		return nil, err
	}
	if len(splitStatements(sql)) == 0 {
		return nil, errors.New("no statements")
	}
	tables := map[string]flinkTable{}
	for _, st := range splitStatements(sql) {
		p := &sqlParser{toks: st}
		if !p.keyword("CREATE") {
			continue
		}
		p.keyword("TEMPORARY")
		if !p.keyword("TABLE") {
			continue
		}
		name, ok := ident(p.next())
		if !ok {
			return nil, fmt.Errorf("CREATE TABLE without a name")
		}
		tb, err := p.table()
		if err != nil {
			return nil, fmt.Errorf("CREATE TABLE %s: %w", name, err)
		}
		tables[name] = tb
	}
	return tables, nil
}

// sqlParser reads one statement's tokens.
type sqlParser struct {
	toks []string
	i    int
}

func (p *sqlParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *sqlParser) next() string {
	tk := p.peek()
	p.i++
	return tk
}

// keyword consumes the next token if it is the (unquoted) keyword kw.
func (p *sqlParser) keyword(kw string) bool {
	if strings.EqualFold(p.peek(), kw) {
		p.i++
		return true
	}
	return false
}

func (p *sqlParser) expect(tk string) error {
	if got := p.next(); got != tk {
		return fmt.Errorf("want %q, found %q (token %d)", tk, got, p.i-1)
	}
	return nil
}

// skipExpr skips an expression up to the comma or closing parenthesis that
// ends it at depth 0.
func (p *sqlParser) skipExpr() {
	depth := 0
	for p.i < len(p.toks) {
		switch p.peek() {
		case "(":
			depth++
		case ")":
			if depth == 0 {
				return
			}
			depth--
		case ",":
			if depth == 0 {
				return
			}
		}
		p.i++
	}
}

// table reads "( columns and constraints ) [COMMENT ...] [PARTITIONED BY ...] WITH ( options )".
func (p *sqlParser) table() (flinkTable, error) {
	tb := flinkTable{with: map[string]string{}}
	if err := p.expect("("); err != nil {
		return tb, err
	}
	for {
		switch {
		case p.keyword("WATERMARK"):
			if !p.keyword("FOR") {
				return tb, errors.New("WATERMARK without FOR")
			}
			tb.watermark, _ = ident(p.next())
			p.skipExpr()
		case p.keyword("PRIMARY"), p.keyword("CONSTRAINT"):
			p.skipExpr()
		default:
			name, ok := ident(p.next())
			if !ok {
				return tb, fmt.Errorf("column name expected, found %q", p.toks[p.i-1])
			}
			c := flinkColumn{name: name}
			if p.keyword("AS") {
				c.computed = true
				p.skipExpr()
			} else {
				typ, err := p.typ()
				if err != nil {
					return tb, fmt.Errorf("column %s: %w", name, err)
				}
				c.typ = typ
				for p.peek() != "," && p.peek() != ")" && p.peek() != "" {
					if p.keyword("METADATA") {
						c.metadata = true
						continue
					}
					p.next()
				}
			}
			tb.columns = append(tb.columns, c)
		}
		switch p.next() {
		case ",":
			continue
		case ")":
		default:
			return tb, fmt.Errorf("want , or ) after column %d", len(tb.columns))
		}
		break
	}
	for p.peek() != "" && !p.keyword("WITH") {
		p.next()
	}
	if err := p.expect("("); err != nil {
		return tb, fmt.Errorf("WITH: %w", err)
	}
	for {
		k, v := p.next(), ""
		if err := p.expect("="); err != nil {
			return tb, fmt.Errorf("WITH %s: %w", k, err)
		}
		v = p.next()
		if !strings.HasPrefix(k, "'") || !strings.HasPrefix(v, "'") {
			return tb, fmt.Errorf("WITH: want 'key' = 'value', found %s = %s", k, v)
		}
		tb.with[strings.Trim(k, "'")] = strings.Trim(v, "'")
		switch p.next() {
		case ",":
			continue
		case ")":
			return tb, nil
		default:
			return tb, errors.New("WITH: want , or )")
		}
	}
}

// typ reads a data type.
func (p *sqlParser) typ() (flinkType, error) {
	name := strings.ToUpper(p.next())
	t := flinkType{name: name}
	switch name {
	case "ARRAY", "MAP", "MULTISET":
		if err := p.expect("<"); err != nil {
			return t, err
		}
		for {
			a, err := p.typ()
			if err != nil {
				return t, err
			}
			t.args = append(t.args, a)
			if tk := p.next(); tk == ">" {
				return t, nil
			} else if tk != "," {
				return t, fmt.Errorf("%s: want , or >, found %q", name, tk)
			}
		}
	case "ROW":
		if err := p.expect("<"); err != nil {
			return t, err
		}
		for {
			fname, ok := ident(p.next())
			if !ok {
				return t, errors.New("ROW: field name expected")
			}
			ft, err := p.typ()
			if err != nil {
				return t, fmt.Errorf("ROW field %s: %w", fname, err)
			}
			t.fields = append(t.fields, flinkField{fname, ft})
			for p.peek() != "," && p.peek() != ">" && p.peek() != "" {
				p.next() // NOT NULL, COMMENT '...'
			}
			if tk := p.next(); tk == ">" {
				return t, nil
			} else if tk != "," {
				return t, errors.New("ROW: want , or >")
			}
		}
	case "":
		return t, errors.New("type expected")
	}
	if p.peek() == "(" {
		p.next()
		for p.peek() != ")" && p.peek() != "" {
			if tk := p.next(); tk != "," {
				t.params = append(t.params, tk)
			}
		}
		p.next()
	}
	return t, nil
}

// avroSchema is a parsed .avsc with its named types, to resolve references.
type avroSchema struct {
	root  any
	named map[string]any
}

func loadAvro(b []byte) (*avroSchema, error) {
	s := &avroSchema{named: map[string]any{}}
	if err := json.Unmarshal(b, &s.root); err != nil {
		return nil, err
	}
	s.collect(s.root, "")
	return s, nil
}

// collect indexes every named type by full and short name.
func (s *avroSchema) collect(v any, ns string) {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			s.collect(x, ns)
		}
	case map[string]any:
		if n, ok := v["namespace"].(string); ok {
			ns = n
		}
		if name, ok := v["name"].(string); ok && (v["type"] == "record" || v["type"] == "enum" || v["type"] == "fixed") {
			s.named[name] = v
			if !strings.Contains(name, ".") && ns != "" {
				s.named[ns+"."+name] = v
			}
			if i := strings.LastIndex(name, "."); i >= 0 {
				s.named[name[i+1:]] = v
			}
		}
		for _, k := range []string{"fields", "items", "values"} {
			s.collect(v[k], ns)
		}
		if fs, ok := v["fields"].([]any); ok {
			for _, f := range fs {
				if fm, ok := f.(map[string]any); ok {
					s.collect(fm["type"], ns)
				}
			}
		}
		if t, ok := v["type"].(map[string]any); ok {
			s.collect(t, ns)
		}
		if t, ok := v["type"].([]any); ok {
			s.collect(t, ns)
		}
	}
}

// resolve follows name references and strips a ["null", T] union to T. A
// primitive with a logicalType stays a map; one without becomes its name.
func (s *avroSchema) resolve(v any) any {
	for {
		switch x := v.(type) {
		case string:
			n, ok := s.named[x]
			if !ok {
				return x
			}
			v = n
		case []any:
			var non []any
			for _, b := range x {
				if b != "null" {
					non = append(non, b)
				}
			}
			if len(non) != 1 {
				return x
			}
			v = non[0]
		case map[string]any:
			t, ok := x["type"].(string)
			switch {
			case !ok:
				v = x["type"] // {"type": {...}} or {"type": [...]}
			case t == "record" || t == "enum" || t == "fixed" || t == "array" || t == "map":
				return x
			case x["logicalType"] != nil:
				return x
			default:
				v = t
			}
		default:
			return x
		}
	}
}

// field finds a record's field type by name.
func (s *avroSchema) field(rec any, name string) (any, bool) {
	r, ok := s.resolve(rec).(map[string]any)
	if !ok || r["type"] != "record" {
		return nil, false
	}
	fs, _ := r["fields"].([]any)
	for _, f := range fs {
		if fm, ok := f.(map[string]any); ok && fm["name"] == name {
			return fm["type"], true
		}
	}
	return nil, false
}

// fits reports whether Flink's avro-confluent format reads the Avro type
// avro into a column of type t (Flink's AvroSchemaConverter mapping).
func (s *avroSchema) fits(t flinkType, avro any, where string) error {
	a := s.resolve(avro)
	prim, _ := a.(string)
	m, _ := a.(map[string]any)
	logical := ""
	if m != nil {
		logical, _ = m["logicalType"].(string)
		if p, ok := m["type"].(string); ok && p != "record" && p != "array" && p != "map" && p != "enum" && p != "fixed" {
			prim = p
		}
	}
	bad := func() error {
		b, _ := json.Marshal(avro)
		return fmt.Errorf("%s: %s does not read Avro %s", where, t, b)
	}
	switch t.name {
	case "STRING", "VARCHAR", "CHAR":
		if prim != "string" && (m == nil || m["type"] != "enum") {
			return bad()
		}
	case "INT":
		if prim != "int" || logical != "" {
			return bad()
		}
	case "BIGINT":
		if prim != "long" || logical != "" {
			return bad()
		}
	case "BOOLEAN":
		if prim != "boolean" {
			return bad()
		}
	case "DOUBLE":
		if prim != "double" {
			return bad()
		}
	case "FLOAT":
		if prim != "float" {
			return bad()
		}
	case "BYTES", "VARBINARY":
		if prim != "bytes" || logical != "" {
			return bad()
		}
	case "TIMESTAMP", "TIMESTAMP_LTZ":
		if prim != "long" || logical != "timestamp-millis" || (len(t.params) > 0 && t.params[0] != "3") {
			return bad()
		}
	case "DECIMAL":
		if logical != "decimal" || len(t.params) != 2 ||
			fmt.Sprint(m["precision"]) != t.params[0] || fmt.Sprint(m["scale"]) != t.params[1] {
			return bad()
		}
	case "ARRAY":
		if m == nil || m["type"] != "array" {
			return bad()
		}
		return s.fits(t.args[0], m["items"], where+"[]")
	case "MAP":
		if m == nil || m["type"] != "map" || t.args[0].name != "STRING" {
			return bad()
		}
		return s.fits(t.args[1], m["values"], where+"{}")
	case "ROW":
		if m == nil || m["type"] != "record" {
			return bad()
		}
		for _, f := range t.fields {
			ft, ok := s.field(m, f.name)
			if !ok {
				return fmt.Errorf("%s.%s: no field %s in record %v", where, f.name, f.name, m["name"])
			}
			if err := s.fits(f.typ, ft, where+"."+f.name); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: the test does not know Flink type %s", where, t)
	}
	return nil
}
