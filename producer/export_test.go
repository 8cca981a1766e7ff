package producer

// SetCommitHook makes every lane of s call hook in Commit once the lane's
// records are produced and acknowledged, before its transaction is ended:
// a test can hold a lane's transaction open there. Set it before any lane
// of s commits.
func SetCommitHook(s *Shared, hook func(lane *Producer)) { s.commitHook = hook }
