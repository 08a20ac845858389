package middleware

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkBucketsTake is RATE_LIMIT's bookkeeping per call: a subject it
// knows, and a stream of new subjects into a table full of drained
// buckets, where every call has to make room.
func BenchmarkBucketsTake(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	b.Run("known", func(b *testing.B) {
		bk := newBuckets(RateLimitOptions{Rate: 1e9, Now: clock})
		b.ReportAllocs()
		for b.Loop() {
			bk.take("sub:a", 1)
		}
	})
	b.Run("new-into-full", func(b *testing.B) {
		bk := newBuckets(RateLimitOptions{Rate: 0.001, MaxSubjects: 1000, Now: clock})
		subjects := make([]string, 4000)
		for i := range subjects {
			subjects[i] = "sub:" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			bk.take(subjects[i%len(subjects)], 1)
			i++
		}
	})
}
