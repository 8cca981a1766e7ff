// Package srcompat gives franz-go's in-process fake Schema Registry
// (srfake) a real compatibility check. srfake's own check is a stub that
// always answers "compatible", so on its own it cannot show that callstream
// stops when a registry refuses a schema.
//
// [Enforce] installs an interceptor that checks Avro schemas the way
// Confluent Schema Registry does at its default level, BACKWARD: the new
// schema must be able to read data written with the subject's latest
// version. The check itself is hamba/avro's schema-compatibility resolver.
// Answers have Confluent's shapes: the compatibility endpoint returns
// {"is_compatible": false, "messages": [...]}, and registering an
// incompatible schema returns HTTP 409 with error_code 409 and a message
// naming the subject.
package srcompat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Enforce makes reg check compatibility (BACKWARD) for Avro schemas on
// POST /compatibility/subjects/{subject}/versions/{version} and
// POST /subjects/{subject}/versions.
func Enforce(reg *srfake.Registry) {
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		subject, isCheck, ok := route(r.URL.Path)
		if !ok {
			return false
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return false
		}
		var s sr.Schema
		if json.Unmarshal(body, &s) != nil || (s.Type != sr.TypeAvro && s.Type != 0) {
			return false
		}
		latest, ok := latestVersion(reg, subject)
		if !ok {
			return false // a new subject: nothing to be compatible with
		}
		problem := Check(s.Schema, latest.Schema.Schema)
		switch {
		case isCheck:
			resp := map[string]any{"is_compatible": problem == ""}
			if problem != "" {
				resp["messages"] = []string{problem, fmt.Sprintf("{oldSchemaVersion: %d}", latest.Version), "{compatibility: 'BACKWARD'}"}
			}
			writeJSON(w, http.StatusOK, resp)
			return true
		case problem != "":
			writeJSON(w, http.StatusConflict, map[string]any{
				"error_code": 409,
				"message": fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject %q, details: [%s, {oldSchemaVersion: %d}, {compatibility: 'BACKWARD'}]",
					subject, problem, latest.Version),
			})
			return true
		}
		return false
	})
}

// Check returns why data written with writer cannot be read with reader,
// or "" when it can. Unparsable schemas are reported too.
func Check(reader, writer string) string {
	rs, err := avro.ParseWithCache(reader, "", &avro.SchemaCache{})
	if err != nil {
		return "{errorType:'INVALID_SCHEMA', description:'new schema: " + err.Error() + "'}"
	}
	ws, err := avro.ParseWithCache(writer, "", &avro.SchemaCache{})
	if err != nil {
		return "{errorType:'INVALID_SCHEMA', description:'old schema: " + err.Error() + "'}"
	}
	if err := avro.NewSchemaCompatibility().Compatible(rs, ws); err != nil {
		return "{errorType:'READER_INCOMPATIBLE', description:'The new schema cannot read data written with the old one: " + err.Error() + "'}"
	}
	return ""
}

// route recognises the two endpoints and extracts the subject.
func route(path string) (subject string, isCheck, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 5 && parts[0] == "compatibility" && parts[1] == "subjects" && parts[3] == "versions":
		subject, isCheck = parts[2], true
	case len(parts) == 4 && parts[0] == "compatibility" && parts[1] == "subjects" && parts[3] == "versions":
		subject, isCheck = parts[2], true
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions":
		subject = parts[1]
	default:
		return "", false, false
	}
	s, err := url.PathUnescape(subject)
	if err != nil {
		return "", false, false
	}
	return s, isCheck, true
}

// latestVersion finds the highest live version of subject.
func latestVersion(reg *srfake.Registry, subject string) (sr.SubjectSchema, bool) {
	var latest sr.SubjectSchema
	found := false
	for v, misses := 1, 0; misses < 10; v++ {
		s, ok := reg.GetSchema(subject, v)
		if !ok {
			misses++
			continue
		}
		latest, found, misses = s, true, 0
	}
	return latest, found
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
