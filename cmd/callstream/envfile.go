package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// takeEnvFile removes the global --env-file FILE (or --env-file=FILE) from
// args, wherever it is: before the command or among its flags. Anything
// after a "--" is left alone.
func takeEnvFile(args []string) (rest []string, file string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), file, nil
		}
		name, val, hasVal := strings.Cut(a, "=")
		if name != "--env-file" && name != "-env-file" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, "", &configError{Problems: []string{"--env-file: missing FILE"}}
			}
			i++
			val = args[i]
		}
		if file != "" {
			return nil, "", &configError{Problems: []string{"--env-file given twice"}}
		}
		if val == "" {
			return nil, "", &configError{Problems: []string{"--env-file: empty FILE"}}
		}
		file = val
	}
	return rest, file, nil
}

// exportEnvFile makes --env-file also set, in the process environment, the
// variables it does not set already. The Azure SDK's credential chain
// (KAFKA_SASL_MECHANISM=OAUTHBEARER) reads AZURE_* there itself. main sets
// it; tests calling realMain leave their process environment alone.
var exportEnvFile = false

// withEnvFile returns env with the settings of the file at path beneath
// it: a variable set in the real environment wins over the file, as with
// docker --env-file and systemd's EnvironmentFile overridden by the shell.
func withEnvFile(env envconfig.Lookuper, path string) (envconfig.Lookuper, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &configError{Problems: []string{"--env-file: " + err.Error()}}
	}
	defer f.Close()
	vals, err := parseEnvFile(path, f)
	if err != nil {
		return nil, err
	}
	if exportEnvFile {
		for k, v := range vals {
			if _, set := os.LookupEnv(k); !set {
				if err := os.Setenv(k, v); err != nil {
					return nil, fmt.Errorf("--env-file %s: %s: %w", path, k, err)
				}
			}
		}
	}
	if base, ok := env.(environ); ok {
		// An environ keeps listing its names, so that the file's
		// variables are checked for typos like the real environment's.
		merged := maps.Clone(base)
		for k, v := range vals {
			if _, set := merged[k]; !set {
				merged[k] = v
			}
		}
		return merged, nil
	}
	return envconfig.MultiLookuper(env, envconfig.MapLookuper(vals)), nil
}

// parseEnvFile reads KEY=VALUE lines: blank lines and # comments are
// skipped, "export " before KEY is allowed, and VALUE may be in single
// quotes (taken literally) or double quotes (with \n, \t, \" and \\
// escapes). Every bad line is reported, as FILE:LINE.
func parseEnvFile(path string, f *os.File) (map[string]string, error) {
	vals := map[string]string{}
	var p problems
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvName(key) {
			// The line is not echoed: it may hold a secret.
			p.add("--env-file %s:%d: want KEY=VALUE", path, n)
			continue
		}
		v, err := envFileValue(strings.TrimSpace(val))
		if err != nil {
			p.add("--env-file %s:%d: %s: %v", path, n, key, err)
			continue
		}
		vals[key] = v
	}
	if err := sc.Err(); err != nil {
		p.add("--env-file %s: %v", path, err)
	}
	if len(p) > 0 {
		return nil, &configError{Problems: p}
	}
	return vals, nil
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func envFileValue(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, `"`):
		end := strings.LastIndex(v, `"`)
		if end == 0 || strings.TrimSpace(v[end+1:]) != "" && !strings.HasPrefix(strings.TrimSpace(v[end+1:]), "#") {
			return "", fmt.Errorf("unterminated double quote")
		}
		s, err := strconv.Unquote(v[:end+1])
		if err != nil {
			return "", fmt.Errorf("bad double-quoted value")
		}
		return s, nil
	case strings.HasPrefix(v, "'"):
		end := strings.LastIndex(v, "'")
		if end == 0 || strings.TrimSpace(v[end+1:]) != "" && !strings.HasPrefix(strings.TrimSpace(v[end+1:]), "#") {
			return "", fmt.Errorf("unterminated single quote")
		}
		return v[1:end], nil
	}
	// An unquoted value ends at " #", as in shells.
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}
