package tenants

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"
)

// Watch polls the TENANTS_FILE at path every interval until ctx ends, and
// returns then. It compares the file's content, not its modification time,
// because Kubernetes updates a mounted ConfigMap by swapping a symlink,
// which leaves the visible file's times as they were.
//
// The first poll happens at once and hands the file's list to onChange, so
// that an edit made between the configuration's read and the start of the
// watch is not missed: callers compare with what they run (see Diff).
// After that, onChange gets the new full list each time the content
// changes and parses. A file that cannot be read or parsed keeps the last
// good list: onError is told once per distinct error, not at every poll.
// Both callbacks run on Watch's goroutine, one at a time.
func Watch(ctx context.Context, path string, every time.Duration, onChange func([]Tenant), onError func(error)) {
	if every <= 0 {
		every = time.Second
	}
	var last [sha256.Size]byte
	read := false
	lastErr := ""
	fail := func(err error) {
		if err.Error() != lastErr {
			lastErr = err.Error()
			onError(err)
		}
	}
	poll := func() {
		data, err := os.ReadFile(path)
		if err != nil {
			fail(fmt.Errorf("TENANTS_FILE: %w; keeping the tenants read before", err))
			return
		}
		sum := sha256.Sum256(data)
		if read && sum == last {
			if lastErr != "" {
				// Back to the content of the last good list (a broken
				// edit undone, or the file back after a read error).
				lastErr = ""
			}
			return
		}
		list, err := ParseFile(data)
		if err != nil {
			fail(fmt.Errorf("TENANTS_FILE %s: %w; keeping the tenants read before", path, err))
			return
		}
		last, read, lastErr = sum, true, ""
		onChange(list)
	}
	poll()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			poll()
		}
	}
}
