package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped at build time with -ldflags "-X main.commit=… -X main.date=…"
// (the Dockerfile and the Makefile do). The image builds with
// -buildvcs=false, as its build context has no .git, so the build info's
// vcs.revision and vcs.time are only a fallback for go install and go build
// in a clone.
var (
	commit = ""
	date   = ""
)

var versionHelp = helpDoc{
	usage:   "callstream version [--json]   (or callstream --version)",
	summary: "Print the version, the module version, the VCS commit and the build date of this binary.\nReads no settings.",
}

// buildVersion is what `callstream version` prints.
type buildVersion struct {
	Version   string `json:"version"`
	Module    string `json:"module"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"`
	BuildDate string `json:"build_date"`
	Go        string `json:"go"`
}

// versionInfo combines the ldflags stamps with the build info: a stamp
// wins, then the build info, then "unknown".
func versionInfo() buildVersion {
	v := buildVersion{Version: version, Module: "unknown", Commit: commit, BuildDate: date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v.Module = bi.Main.Path + " " + bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.BuildDate == "" {
					v.BuildDate = s.Value
				}
			case "vcs.modified":
				// Only meaningful for the revision read from the same info.
				v.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.BuildDate == "" {
		v.BuildDate = "unknown"
	}
	return v
}

func cmdVersion(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, versionHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{Problems: []string{fmt.Sprintf("version takes no arguments, got %q", fs.Args())}}
	}
	v := versionInfo()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	c := v.Commit
	if v.Modified {
		c += " (modified)"
	}
	// The first line stays "callstream VERSION", as scripts read it.
	_, err := fmt.Fprintf(stdout, "callstream %s\n  module  %s\n  commit  %s\n  built   %s\n  go      %s\n", v.Version, v.Module, c, v.BuildDate, v.Go)
	return err
}
