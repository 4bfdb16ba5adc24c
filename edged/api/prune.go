package api

import "time"

// PathPrune deletes DELIVERED segments older than a cutoff (POST).
const PathPrune = "/v1/ledger/prune"

// PruneRequest asks to delete the DELIVERED segments delivered more than
// OlderThan (a Go duration, at least 1m) ago, with their history and
// payloads; DryRun only counts them.
type PruneRequest struct {
	OlderThan string `json:"older_than"`
	DryRun    bool   `json:"dry_run,omitempty"`
}

// PruneResponse says how many were (or, with DryRun, would be) deleted:
// those delivered before Cutoff.
type PruneResponse struct {
	Pruned int       `json:"pruned"`
	Cutoff time.Time `json:"cutoff"`
	DryRun bool      `json:"dry_run"`
}
