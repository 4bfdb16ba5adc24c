package control

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"edgelab/edged/api"
)

// Pruner deletes old DELIVERED segments (POST /v1/ledger/prune).
type Pruner interface {
	Prune(ctx context.Context, olderThan time.Duration, dryRun bool, actor string) (api.PruneResponse, error)
}

func (h *handler) addPruneRoute() {
	b, ok := h.backend.(Pruner)
	if !ok {
		return
	}
	h.routes[api.PathPrune] = route{http.MethodPost, func(w http.ResponseWriter, r *http.Request) error {
		var req api.PruneRequest
		if err := decodeObject(w, r, &req, `{"older_than":"72h"}`); err != nil {
			return err
		}
		d, err := time.ParseDuration(req.OlderThan)
		if err != nil || d < time.Minute {
			return &RequestError{Code: http.StatusBadRequest, Msg: fmt.Sprintf("older_than %q: want a duration of at least 1m, like \"72h\"", req.OlderThan)}
		}
		resp, err := b.Prune(context.WithoutCancel(r.Context()), d, req.DryRun, Actor(r.Context()))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}}
}
