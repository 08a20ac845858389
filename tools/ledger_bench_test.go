package tools

import (
	"strconv"
	"testing"
)

// BenchmarkChunkLedger is the ledger's cost per chunked upload (init,
// two chunks, complete), and of starting uploads while it is full.
func BenchmarkChunkLedger(b *testing.B) {
	b.Run("upload", func(b *testing.B) {
		l := newChunkLedger()
		b.ReportAllocs()
		for b.Loop() {
			l.started("u", "default")
			l.stored("u", 0)
			l.stored("u", 1)
			if err := l.gap("u"); err != nil {
				b.Fatal(err)
			}
			l.done("u")
		}
	})
	b.Run("started-into-full", func(b *testing.B) {
		l := newChunkLedger()
		ids := make([]string, 4*ledgerMax)
		for i := range ids {
			ids[i] = "u" + strconv.Itoa(i)
		}
		for _, id := range ids[:ledgerMax] {
			l.started(id, "default")
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.started(ids[i%len(ids)], "default")
			i++
		}
	})
}
