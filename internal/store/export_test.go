package store

import (
	"context"

	"github.com/google/uuid"
)

// TrendsSQL lets the external tests EXPLAIN the trends query as it runs.
const TrendsSQL = trendsSQL

// Wrap lets the external tests check the error translation.
var Wrap = wrap

// RecordBatchUncleaned is RecordBatch without cleaning the text first, so
// that the tests reach the isolation of a refused row.
func RecordBatchUncleaned(ctx context.Context, s *Store, b Batch, decide func(BatchState) Plan) (BatchOutcome, error) {
	for _, r := range b.Results {
		if r.Call != nil && r.Call.CallID == uuid.Nil {
			r.Call.CallID = uuid.New()
		}
	}
	return s.recordIsolating(ctx, b, decide)
}
