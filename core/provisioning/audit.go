package provisioning

import (
	"context"
	"time"

	"github.com/extasis/extasis/core/storage"
)

// auditBatch is how many decisions are written in one transaction at most;
// auditFlush is how long a decision waits to be written at most.
const (
	auditBatch = 512
	auditFlush = 100 * time.Millisecond
)

// auditWriter writes audited decisions in batches, off the decision path.
func (s *Service) auditWriter() {
	defer s.wg.Done()
	batch := make([]storage.ProvisioningDecision, 0, auditBatch)
	tick := time.NewTicker(auditFlush)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.store.AppendDecisions(ctx, batch); err != nil {
			s.metrics.AuditDropped.Add(uint64(len(batch)))
			s.log.Warn("decisions not written to the audit", "count", len(batch), "err", err)
		}
		cancel()
		batch = batch[:0]
	}
	for {
		select {
		case d := <-s.audit:
			batch = append(batch, d)
			if len(batch) >= auditBatch {
				flush()
			}
		case <-tick.C:
			flush()
		case <-s.stopCh:
			for {
				select {
				case d := <-s.audit:
					batch = append(batch, d)
					if len(batch) >= auditBatch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// FlushAudit waits until the decisions queued so far are written (for
// tests and the CLI's view of a running broker).
func (s *Service) FlushAudit(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(s.audit) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	// The writer may hold the last ones in its batch for one flush period.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * auditFlush):
	}
	return nil
}
