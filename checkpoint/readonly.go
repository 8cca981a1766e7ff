package checkpoint

import "context"

// ReadFile loads source's state from the checkpoint file at path without
// writing anything: no writability probe, no clean-up of temp files, as
// NewFileStore does. A missing file is an empty state. Read-only commands
// (callstream plan) use it.
func ReadFile(ctx context.Context, path, source string) (State, error) {
	return (&FileStore{path: path}).Load(ctx, source)
}
