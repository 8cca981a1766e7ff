package main

import (
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// directRoutingSource is the walker's direct-routing source in v1.0, the
// one most command tests drive directly.
func directRoutingSource() walk.Source {
	s, err := walk.For(sources.MustLookup("direct-routing"), sources.V1)
	if err != nil {
		panic(err)
	}
	return s
}
