package checkpoint

import "time"

// Passes counts the passes r has started.
func (r *KafkaReader) Passes() int64 { return r.passes.Load() }

// SetPassHook makes f run at the start of each pass, before the pass lists
// the watermarks. Set it before the reader is used.
func (r *KafkaReader) SetPassHook(f func()) { r.passHook = f }

// SetOpenTxnWait replaces DefaultOpenTxnWait for r. Set it before the
// reader is used.
func (r *KafkaReader) SetOpenTxnWait(d time.Duration) { r.openTxnWait = d }

// Waiting counts the loads waiting for the next pass (not the running one).
func (r *KafkaReader) Waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queued == nil {
		return 0
	}
	return r.queued.waiters
}
