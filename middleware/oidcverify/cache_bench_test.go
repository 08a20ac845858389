package oidcverify

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

func benchKeys(n int) [][32]byte {
	ks := make([][32]byte, n)
	for i := range ks {
		ks[i] = sha256.Sum256([]byte(strconv.Itoa(i)))
	}
	return ks
}

// BenchmarkTokenCache is the verifier's cache: a hit (every repeat of a
// token), and inserts of new tokens into a full cache.
func BenchmarkTokenCache(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	until := now.Add(time.Hour)
	info := &auth.TokenInfo{UserID: "u"}
	ks := benchKeys(4 * cacheMax)
	b.Run("hit", func(b *testing.B) {
		c := newTokenCache(cacheMax)
		for _, k := range ks[:cacheMax] {
			c.put(c.generation(), k, info, until, now)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.get(ks[i%cacheMax], now)
			i++
		}
	})
	b.Run("put-into-full", func(b *testing.B) {
		c := newTokenCache(cacheMax)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.put(c.generation(), ks[i%len(ks)], info, until, now)
			i++
		}
	})
}

// BenchmarkIntroLimiterActive records active introspection answers from
// ever new tokens and addresses, so the voucher tables stay full.
func BenchmarkIntroLimiterActive(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	l := newIntroLimiter(func() time.Time { return now })
	ks := benchKeys(4 * cacheMax)
	addrs := make([]string, len(ks))
	for i := range addrs {
		addrs[i] = "198.51." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.active(addrs[i%len(addrs)], ks[i%len(ks)], now.Add(time.Hour), now)
		i++
	}
}

// BenchmarkRejectCache adds ever new inactive tokens and looks one up.
func BenchmarkRejectCache(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	c := newRejectCache(cacheMax, introspectCacheTTL)
	ks := benchKeys(4 * cacheMax)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.add(ks[i%len(ks)], now)
		c.seen(ks[(i+7)%len(ks)], now)
		i++
	}
}
