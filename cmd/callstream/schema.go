package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// sourceSchemas are the Avro value schemas by source name. PSTN joins when
// its codec lands.
var sourceSchemas = map[string]func() (producer.Schema, error){
	"direct-routing": func() (producer.Schema, error) {
		fp, err := schemaFingerprint(schemas.DirectRoutingSchema())
		return producer.Schema{
			Name:        schemas.DirectRoutingSchemaName,
			Text:        schemas.DirectRoutingSchemaText(),
			Fingerprint: fp,
		}, err
	},
}

func sourceSchema(name string) (producer.Schema, error) {
	get, ok := sourceSchemas[name]
	if !ok {
		known := slices.Sorted(func(yield func(string) bool) {
			for k := range sourceSchemas {
				if !yield(k) {
					return
				}
			}
		})
		msg := fmt.Sprintf("--source %s: want one of %s", name, strings.Join(known, ", "))
		if name == "pstn" {
			msg = "--source pstn: this build has no PSTN schema yet; want " + strings.Join(known, ", ")
		}
		return producer.Schema{}, &configError{problems: []string{msg}}
	}
	return get()
}

// rawSchemaCmd is what `schema register` reads: the registry and the topic
// the subject is derived from, but no brokers.
type rawSchemaCmd struct {
	Topic    string `env:"KAFKA_TOPIC, default=teams.directrouting.calls"`
	Registry rawRegistry
}

// cmdSchema prints a source's Avro schema, or with "register" registers it
// with the Schema Registry (SCHEMA_REGISTRY_*), checking compatibility first.
func cmdSchema(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	source := fs.String("source", "direct-routing", "the source whose schema to print or register: direct-routing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: callstream schema [register] [--source direct-routing]")
		fs.PrintDefaults()
	}
	// Accept the flag before or after the verb.
	var verbs []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) > 0 {
			verbs = append(verbs, args[0])
			args = args[1:]
		}
	}
	schema, err := sourceSchema(*source)
	if err != nil {
		return err
	}
	switch {
	case len(verbs) == 0:
		fmt.Fprintln(stdout, schema.Text)
		return nil
	case len(verbs) == 1 && verbs[0] == "register":
	default:
		return &configError{problems: []string{fmt.Sprintf("schema: unknown arguments %q; want `schema [register] [--source NAME]`", verbs)}}
	}

	var raw rawSchemaCmd
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: env}); err != nil {
		return &configError{problems: []string{err.Error()}}
	}
	var p problems
	reg := raw.Registry.parse(&p)
	if reg.URL == "" {
		p.add("SCHEMA_REGISTRY_URL is required to register the schema")
	}
	if strings.TrimSpace(raw.Topic) == "" {
		p.add("KAFKA_TOPIC is empty")
	}
	if len(p) > 0 {
		return &configError{problems: p}
	}
	reg.LookupOnly = false // registering is the point
	log := newLogger("warn", "", stderr)
	id, subject, err := producer.ResolveSchema(ctx, reg, strings.TrimSpace(raw.Topic), schema, log)
	if err != nil {
		return startupError(err)
	}
	fmt.Fprintf(stdout, "registered %s under subject %s: schema id %d\n", schema.Name, subject, id)
	return nil
}

// startupError marks the failures of a misfit environment — a schema the
// registry refuses, topics missing or configured against their role — as
// configuration errors (exit code 2): retrying will not help, a person must.
func startupError(err error) error {
	var se *producer.SchemaError
	var te *producer.TopicError
	if errors.As(err, &se) || errors.As(err, &te) {
		return &configError{problems: []string{err.Error()}}
	}
	return err
}
