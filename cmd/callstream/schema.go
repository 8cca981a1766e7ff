package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// sourceSchema is the Avro value schema of a source for an API version.
func sourceSchema(name, version string) (producer.Schema, error) {
	codec, err := schemas.For(name, version)
	if err != nil {
		return producer.Schema{}, &configError{Problems: []string{fmt.Sprintf("--source %s: %v", name, err)}}
	}
	return app.Schema(codec)
}

// rawSchemaCmd is what `schema register` reads: the registry and the topic
// the subject is derived from, but no brokers.
type rawSchemaCmd struct {
	// topics are the sources' topic settings, as app.RawKafka's.
	topics     app.SourceTopics
	APIVersion string `env:"GRAPH_API_VERSION, default=v1.0"`
	Registry   app.RawRegistry
}

// schemaHelp is schema's --help; its settings are rawSchemaCmd's.
var schemaHelp = helpDoc{
	usage: "callstream schema [register] [--source " + strings.Join(sources.Names(), "|") + "] [--version v1.0|beta]",
	summary: `Print a source's Avro value schema, or with register register it with the Schema Registry under
the subject run would use (SCHEMA_SUBJECT_STRATEGY, the source's topic), after checking that the
registry finds it compatible. Printing reads no setting but GRAPH_API_VERSION; register needs
SCHEMA_REGISTRY_URL and no brokers.`,
	names: envNames(reflect.TypeFor[rawSchemaCmd]()),
	exitNotes: map[int]string{
		exitConfig: "invalid configuration or usage, or a schema the registry refuses",
	},
}

// cmdSchema prints a source's Avro schema, or with "register" registers it
// with the Schema Registry (SCHEMA_REGISTRY_*), checking compatibility first.
func cmdSchema(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	source := fs.String("source", sources.Default().Name, "the source whose schema to print or register: "+sources.NameList("or"))
	version := fs.String("version", "", "the Graph API version whose schema to use: v1.0 or beta (default GRAPH_API_VERSION, else v1.0)")
	// Accept the flag before or after the verb.
	var verbs []string
	for len(args) > 0 {
		if err := parseFlags(fs, schemaHelp, args, stdout); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) > 0 {
			verbs = append(verbs, args[0])
			args = args[1:]
		}
	}
	var raw rawSchemaCmd
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: env}); err != nil {
		return &configError{Problems: []string{err.Error()}}
	}
	raw.topics = readTopics(env)
	if *version == "" {
		*version = raw.APIVersion
	}
	schema, err := sourceSchema(*source, *version)
	if err != nil {
		return err
	}
	switch {
	case len(verbs) == 0:
		fmt.Fprintln(stdout, schema.Text)
		return nil
	case len(verbs) == 1 && verbs[0] == "register":
	default:
		return &configError{Problems: []string{fmt.Sprintf("schema: unknown arguments %q; want `schema [register] [--source NAME]`", verbs)}}
	}

	reg, regProblems := raw.Registry.Parse()
	p := problems(regProblems)
	if reg.URL == "" {
		p.add("SCHEMA_REGISTRY_URL is required to register the schema")
	}
	src, _ := sources.Lookup(*source) // sourceSchema has refused any other
	topic := raw.topics.For(src)
	if topic == "" {
		p.add("the topic of source %s is empty (%s)", *source, src.TopicSetting)
	}
	if len(p) > 0 {
		return &configError{Problems: p}
	}
	reg.LookupOnly = false // registering is the point
	log := app.NewLogger("warn", "", stderr)
	id, subject, err := producer.ResolveSchema(ctx, reg, topic, schema, log)
	if err != nil {
		return app.StartupError(err)
	}
	fmt.Fprintf(stdout, "registered %s under subject %s: schema id %d\n", schema.Name, subject, id)
	return nil
}
