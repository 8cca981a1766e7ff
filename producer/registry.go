package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// SubjectStrategy decides the Schema Registry subject a value schema is
// registered under, with the names Confluent's serializers use.
type SubjectStrategy string

// The subject name strategies.
const (
	// TopicStrategy registers under "<topic>-value" (Confluent's
	// TopicNameStrategy, the default of every Confluent serializer and of
	// Kafka Connect's AvroConverter).
	TopicStrategy SubjectStrategy = "topic"
	// RecordStrategy registers under the record's full name, so several
	// topics share one subject (RecordNameStrategy).
	RecordStrategy SubjectStrategy = "record"
	// TopicRecordStrategy registers under "<topic>-<record full name>"
	// (TopicRecordNameStrategy).
	TopicRecordStrategy SubjectStrategy = "topic-record"
)

// ParseSubjectStrategy accepts topic, record or topic-record, and also
// Confluent's class names (TopicNameStrategy ...).
func ParseSubjectStrategy(s string) (SubjectStrategy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "topic", "topicnamestrategy":
		return TopicStrategy, nil
	case "record", "recordnamestrategy":
		return RecordStrategy, nil
	case "topic-record", "topicrecordnamestrategy":
		return TopicRecordStrategy, nil
	}
	return "", fmt.Errorf("unknown subject name strategy %q: want topic, record or topic-record", s)
}

// Subject is the subject for the value schema of records named record
// (full name) on topic.
func (s SubjectStrategy) Subject(topic, record string) string {
	switch s {
	case RecordStrategy:
		return record
	case TopicRecordStrategy:
		return topic + "-" + record
	default:
		return topic + "-value"
	}
}

// Registry is how to reach a Confluent-compatible Schema Registry and how
// to use it.
type Registry struct {
	// URL is the registry's base URL; empty means no registry.
	URL string
	// Username and Password, when set, are sent as HTTP basic auth
	// (Confluent Cloud: the API key and secret).
	Username, Password string
	// BearerToken, when set, is sent as "Authorization: Bearer …".
	BearerToken string
	// TLS configures https URLs; nil means the system roots.
	TLS *TLS
	// Subject is the subject name strategy; empty means TopicStrategy.
	Subject SubjectStrategy
	// LookupOnly uses the schema already registered under the subject
	// (looked up by its text) instead of registering it, for registries
	// where clients may not register (Confluent's auto.register.schemas=false).
	LookupOnly bool
}

// SchemaError reports that the registry refused the schema, or does not
// hold it when it may only be looked up. Startup stops on it: running on
// would write records no consumer could be sure to read.
type SchemaError struct {
	// Subject is the subject the schema was checked against.
	Subject string
	// Reason is the registry's own message, or ours when there is none.
	Reason string
	// Err is ErrIncompatibleSchema, ErrSchemaNotRegistered,
	// ErrInvalidSchema or ErrSchemaIDMismatch, wrapped around the registry's response if any.
	Err error
}

// Error says what the registry said.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("schema registry subject %s: %v: %s", e.Subject, e.Err, e.Reason)
}

// Unwrap returns the kind of failure.
func (e *SchemaError) Unwrap() error { return e.Err }

// Kinds of SchemaError.
var (
	ErrIncompatibleSchema  = errors.New("schema incompatible with the registered versions")
	ErrSchemaNotRegistered = errors.New("schema not registered and auto-registration is off")
	ErrInvalidSchema       = errors.New("schema rejected as invalid")
	// ErrSchemaIDMismatch: the id the registry gave does not resolve to
	// the schema, so no record may be written under it.
	ErrSchemaIDMismatch = errors.New("schema id does not resolve to the schema")
)

// client returns a registry client for r.
// Client returns a registry client with r's URL, authentication and TLS.
func (r Registry) Client() (*sr.Client, error) { return r.client() }

func (r Registry) client() (*sr.Client, error) {
	opts := []sr.ClientOpt{sr.URLs(r.URL), sr.UserAgent("callstream")}
	switch {
	case r.Username != "" && r.BearerToken != "":
		return nil, errors.New("schema registry: basic auth and a bearer token are exclusive")
	case r.Username != "":
		opts = append(opts, sr.BasicAuth(r.Username, r.Password))
	case r.BearerToken != "":
		opts = append(opts, sr.BearerToken(r.BearerToken))
	}
	if r.TLS != nil {
		tc, err := r.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("schema registry tls: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		opts = append(opts, sr.HTTPClient(&http.Client{Transport: tr}))
	}
	return sr.NewClient(opts...)
}

// ResolveSchema makes sure the registry holds schema for records on topic
// and returns its id and subject. With LookupOnly it only looks the schema
// up; otherwise it first asks the registry whether the schema is compatible
// with the subject's latest version (the registry applies the subject's
// compatibility level), then registers it, which is a no-op returning the
// existing id when the same schema is already there. A refusal is a
// *SchemaError carrying the registry's message.
func ResolveSchema(ctx context.Context, r Registry, topic string, schema Schema, log *slog.Logger) (id int, subject string, err error) {
	if log == nil {
		log = slog.Default()
	}
	subject = r.Subject.Subject(topic, schema.Name)
	rc, err := r.client()
	if err != nil {
		return 0, subject, err
	}
	s := sr.Schema{Schema: schema.Text, Type: sr.TypeAvro}

	if r.LookupOnly {
		ss, err := rc.LookupSchema(ctx, subject, s)
		if err != nil {
			if isCode(err, sr.ErrSubjectNotFound, sr.ErrSchemaNotFound) {
				return 0, subject, &SchemaError{Subject: subject, Err: ErrSchemaNotRegistered,
					Reason: registryMessage(err) + "; register it first (callstream schema register) or set SCHEMA_AUTO_REGISTER=true"}
			}
			return 0, subject, fmt.Errorf("look up schema under %s: %w", subject, err)
		}
		if err := VerifySchemaID(ctx, rc, ss.ID, schema.Text); err != nil {
			return 0, subject, &SchemaError{Subject: subject, Err: ErrSchemaIDMismatch, Reason: err.Error()}
		}
		log.Info("using the registered schema", "subject", subject, "id", ss.ID, "version", ss.Version)
		return ss.ID, subject, nil
	}

	res, err := rc.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, s)
	switch {
	case err == nil && !res.Is:
		reason := strings.Join(res.Messages, "; ")
		if reason == "" {
			reason = "the registry says the schema is not compatible (no details given)"
		}
		return 0, subject, &SchemaError{Subject: subject, Err: ErrIncompatibleSchema, Reason: reason}
	case err == nil:
	case isCode(err, sr.ErrSubjectNotFound, sr.ErrVersionNotFound):
		// A new subject: nothing to be compatible with.
	default:
		if se := refusal(subject, err); se != nil {
			return 0, subject, se
		}
		return 0, subject, fmt.Errorf("check schema compatibility under %s: %w", subject, err)
	}

	id, err = rc.RegisterSchema(ctx, subject, s, -1, -1)
	if err != nil {
		if se := refusal(subject, err); se != nil {
			return 0, subject, se
		}
		return 0, subject, fmt.Errorf("register schema under %s: %w", subject, err)
	}
	// Every record will carry this id: it must resolve to this very schema,
	// or consumers would decode the records with another (a registry behind
	// a broken proxy or cache can answer any id).
	if err := VerifySchemaID(ctx, rc, id, schema.Text); err != nil {
		return 0, subject, &SchemaError{Subject: subject, Err: ErrSchemaIDMismatch, Reason: err.Error()}
	}
	log.Info("schema registered", "subject", subject, "id", id)
	return id, subject, nil
}

// VerifySchemaID asks the registry for the schema with id
// (GET /schemas/ids/{id}) and reports an error unless it is text, compared
// by Avro canonical form so that the registry's formatting does not matter.
func VerifySchemaID(ctx context.Context, rc *sr.Client, id int, text string) error {
	got, err := rc.SchemaByID(ctx, id)
	if err != nil {
		return fmt.Errorf("the registry answered id %d but does not resolve it: %w", id, err)
	}
	same, err := sameSchema(got.Schema, text)
	if err != nil {
		return fmt.Errorf("the registry's schema for id %d: %w", id, err)
	}
	if !same {
		return fmt.Errorf("the registry answered id %d, which is another schema", id)
	}
	return nil
}

// sameSchema compares two Avro schemas by their canonical fingerprint.
func sameSchema(a, b string) (bool, error) {
	if a == b {
		return true, nil
	}
	// Own caches: the global one would keep a stranger's named types.
	sa, err := avro.ParseWithCache(a, "", &avro.SchemaCache{})
	if err != nil {
		return false, err
	}
	sb, err := avro.ParseWithCache(b, "", &avro.SchemaCache{})
	if err != nil {
		return false, err
	}
	return sa.Fingerprint() == sb.Fingerprint(), nil
}

// refusal turns the registry's "incompatible" (HTTP 409) and "invalid"
// (HTTP 422) answers into a SchemaError, or returns nil.
func refusal(subject string, err error) *SchemaError {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return nil
	}
	switch {
	case re.StatusCode == http.StatusConflict:
		return &SchemaError{Subject: subject, Err: fmt.Errorf("%w: %w", ErrIncompatibleSchema, err), Reason: registryMessage(err)}
	case re.StatusCode == http.StatusUnprocessableEntity:
		return &SchemaError{Subject: subject, Err: fmt.Errorf("%w: %w", ErrInvalidSchema, err), Reason: registryMessage(err)}
	}
	return nil
}

func registryMessage(err error) string {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		if re.Message != "" {
			return re.Message
		}
		return strings.TrimSpace(string(re.Raw))
	}
	return err.Error()
}

// isCode reports whether err is a registry response with one of the codes.
func isCode(err error, codes ...*sr.Error) bool {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.ErrorCode == c.Code {
			return true
		}
	}
	return false
}
