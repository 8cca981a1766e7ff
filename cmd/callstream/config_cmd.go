package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
)

var configHelp = helpDoc{
	usage: "callstream config [--json]",
	summary: "Print the effective configuration: every setting with its value after defaults and where it\n" +
		"came from (env, or default), secrets shown as \"(set, redacted)\". Connects to nothing.",
	sections: allSections,
	note: "An invalid configuration is printed all the same, followed by its problems on stderr\n" +
		"(with --json, also under \"problems\"), and the exit code is 2.",
}

// redacted stands for a secret's value.
const redacted = "(set, redacted)"

// secretSetting reports whether a setting's value must never be printed:
// passwords, secrets, tokens and the user names paired with them (some
// services put an API key in the user name).
func secretSetting(name string) bool {
	if strings.HasSuffix(name, "_FILE") || strings.HasSuffix(name, "_PATH") {
		return false // where a secret is, not the secret
	}
	for _, w := range []string{"PASSWORD", "SECRET", "TOKEN", "USERNAME"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// effectiveSetting is one line of `callstream config`.
type effectiveSetting struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Value   string `json:"value"`
	// Source is "env" when the environment (or --env-file) set it,
	// "default" otherwise.
	Source string `json:"source"`
}

// effectiveSettings reads every setting through env, as loadConfig does.
func effectiveSettings(env envconfig.Lookuper) []effectiveSetting {
	var out []effectiveSetting
	for _, s := range settings() {
		e := effectiveSetting{Section: s.section, Name: s.name, Value: s.def, Source: "default"}
		if v, ok := env.Lookup(s.name); ok {
			e.Value, e.Source = v, "env"
		}
		switch {
		case secretSetting(s.name) && e.Value != "":
			e.Value = redacted
		case strings.HasSuffix(s.name, "_URL"):
			e.Value = app.RedactURL(e.Value)
		}
		out = append(out, e)
	}
	return out
}

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, configHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{Problems: []string{fmt.Sprintf("config takes no arguments, got %q", fs.Args())}}
	}
	list := effectiveSettings(env)
	_, err := loadConfig(ctx, env)
	var ce *configError
	if err != nil && !errors.As(err, &ce) {
		return err
	}
	if *asJSON {
		doc := struct {
			Settings []effectiveSetting `json:"settings"`
			Valid    bool               `json:"valid"`
			Problems []string           `json:"problems,omitempty"`
		}{Settings: list, Valid: ce == nil}
		if ce != nil {
			doc.Problems = ce.Problems
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		section := ""
		for _, s := range list {
			if s.Section != section {
				section = s.Section
				title := sectionTitles[section]
				if title == "" {
					title = section
				}
				fmt.Fprintf(tw, "# %s\n", title)
			}
			v := s.Value
			if v == "" {
				v = `""`
			}
			fmt.Fprintf(tw, "%s=%s\t(%s)\n", s.Name, v, s.Source)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if ce != nil {
		return err
	}
	return nil
}
