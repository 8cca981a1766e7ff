package main

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/sources"
)

// environ is the process environment as a Lookuper that can also list its
// names, so that commands can warn about variables that look like ours but
// are not (a typo in a setting with a default goes unnoticed otherwise).
type environ map[string]string

var _ envconfig.Lookuper = environ(nil)

// processEnv is the environment of this process.
func processEnv() environ {
	e := environ{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e[k] = v
		}
	}
	return e
}

// Lookup implements envconfig.Lookuper.
func (e environ) Lookup(key string) (string, bool) {
	v, ok := e[key]
	return v, ok
}

// Names lists the variables set.
func (e environ) Names() []string {
	names := make([]string, 0, len(e))
	for k := range e {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// settingNames are every variable callstream reads, from the env tags of
// the configuration structs: the one home of the names.
var settingNames = sync.OnceValue(func() []string {
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			if f.Type == reflect.TypeFor[app.SourceTopics]() {
				for _, src := range sources.All() {
					names = append(names, src.TopicSetting)
				}
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if tag := f.Tag.Get("env"); tag != "" {
				name, _, _ := strings.Cut(tag, ",")
				names = append(names, strings.TrimSpace(name))
			}
		}
	}
	walk(reflect.TypeFor[app.RawConfig]())
	walk(reflect.TypeFor[rawSchemaCmd]())
	slices.Sort(names)
	return slices.Compact(names)
})

// notOurs are variables with one of our prefixes that callstream does not
// read but that are meant: the tests' broker list.
var notOurs = []string{"KAFKA_TEST_BROKERS"}

// ownPrefixes are the prefixes of our settings, derived from their names,
// and the prefixes of settings of related tools a user may try. AZURE_ is
// not one: the Azure SDK reads many AZURE_ variables of its own.
var ownPrefixes = sync.OnceValue(func() []string {
	prefixes := []string{"CLUSTER_", "TENANT", "WALK_"}
	for _, n := range settingNames() {
		if p, _, ok := strings.Cut(n, "_"); ok && p != "AZURE" {
			prefixes = append(prefixes, p+"_")
		}
	}
	slices.Sort(prefixes)
	return slices.Compact(prefixes)
})

// unknownSettings warns about each variable of env that is not a setting
// but has one of our prefixes, or is a near miss of a setting's name,
// naming the closest setting.
func unknownSettings(env envconfig.Lookuper) []string {
	lister, ok := env.(interface{ Names() []string })
	if !ok {
		return nil
	}
	known := settingNames()
	var warnings []string
	for _, name := range lister.Names() {
		if slices.Contains(known, name) || slices.Contains(notOurs, name) {
			continue
		}
		closest, dist := closestSetting(name, known)
		ours := slices.ContainsFunc(ownPrefixes(), func(p string) bool { return strings.HasPrefix(name, p) })
		near := !strings.HasPrefix(name, "AZURE_") && len(name) >= 6 && dist <= 2
		if !ours && !near {
			continue
		}
		if dist <= max(2, len(name)/3) {
			warnings = append(warnings, fmt.Sprintf("%s is not a callstream setting and is ignored; did you mean %s?", name, closest))
		} else {
			warnings = append(warnings, fmt.Sprintf("%s is not a callstream setting and is ignored (COMMAND --help lists them)", name))
		}
	}
	return warnings
}

// closestSetting is the setting nearest to name by edit distance.
func closestSetting(name string, known []string) (string, int) {
	best, bestDist := "", -1
	for _, k := range known {
		if d := editDistance(name, k); bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	return best, bestDist
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// withSettingNotes adds the unknown-setting warnings to a configuration
// error: a typo is often why a setting is missing.
func withSettingNotes(err error, notes []string) error {
	ce, ok := err.(*configError)
	if !ok || len(notes) == 0 {
		return err
	}
	return &configError{Problems: append(slices.Clone(ce.Problems), notes...)}
}
