package transport

// BatcherQueued is the calls b holds queued, for every target.
func BatcherQueued(b *Batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, q := range b.queues {
		q.mu.Lock()
		n += len(q.calls)
		q.mu.Unlock()
	}
	return n
}
