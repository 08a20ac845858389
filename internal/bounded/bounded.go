// Package bounded holds Map, the one bounded map with expiry the server's
// caches, limiters and ledgers share, so that eviction is written (and
// tested) once instead of as a loop in each of them.
package bounded

import (
	"container/heap"
	"time"
)

// Map is a map whose entries die of age and which holds at most a fixed
// number of them. An entry is dead once it has not been used for the
// map's TTL, or from its own deadline on (see [Map.PutUntil]); a dead
// entry is never returned. When a new key would overflow the map, dead
// entries go first and then the least recently used live one.
//
// Every method takes the caller's clock reading instead of reading one,
// so tests run on a fake clock and a caller that already has the time
// pays for no second reading.
//
// A Map is not safe for concurrent use: every caller does more under its
// own lock than one map operation (checks a generation, updates a second
// map or the entry's value in place), so a lock in here would be paid for
// twice and still not make those steps atomic. Guard it with the mutex
// that guards the rest of the caller's state.
//
// The zero Map has no bound and no TTL.
type Map[K comparable, V any] struct {
	max int
	ttl time.Duration

	m map[K]*entry[K, V]
	// root anchors the ring of entries by recency: root.next is the most
	// recently used, root.prev the least. Because every use both moves an
	// entry to the front and restarts its TTL, the entries dead of idleness
	// are a run at the back, and sweeping them costs only what it frees.
	root entry[K, V]
	// deadlines holds the entries with a deadline of their own, soonest
	// first, for the same reason.
	deadlines deadlineHeap[K, V]
	// spare is the last entry removed, reused by the next new key, so a
	// full map that turns its entries over does not allocate.
	spare *entry[K, V]
}

type entry[K comparable, V any] struct {
	key        K
	val        V
	used       time.Time // last Put or Get
	until      time.Time // dead from this instant on; zero: no deadline
	prev, next *entry[K, V]
	index      int // in deadlines; -1 when not there
}

// New returns a Map that keeps at most max entries (zero or less: no
// bound) and forgets an entry not used for longer than ttl (zero or less:
// entries die only of their own deadline, or of eviction).
func New[K comparable, V any](max int, ttl time.Duration) *Map[K, V] {
	return &Map[K, V]{max: max, ttl: ttl}
}

// Get returns the live value under k and counts it as used: it becomes
// the most recently used entry and its TTL starts again. A dead entry
// found here is dropped.
func (m *Map[K, V]) Get(k K, now time.Time) (V, bool) {
	e := m.live(k, now)
	if e == nil {
		var zero V
		return zero, false
	}
	e.used = now
	m.toFront(e)
	return e.val, true
}

// Peek is [Map.Get] without counting as a use: for a look that should not
// keep the entry alive or protect it from eviction.
func (m *Map[K, V]) Peek(k K, now time.Time) (V, bool) {
	e := m.live(k, now)
	if e == nil {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Put stores v under k with no deadline of its own and counts it as used.
func (m *Map[K, V]) Put(k K, v V, now time.Time) {
	m.PutUntil(k, v, time.Time{}, now)
}

// PutUntil stores v under k, dead from until on (a zero until: no
// deadline), and counts it as used. A value already dead at now is not
// stored, and removes what k held. Replacing a key never evicts; adding
// one to a full map first drops the dead entries, then the least recently
// used until there is room.
func (m *Map[K, V]) PutUntil(k K, v V, until, now time.Time) {
	if !until.IsZero() && !now.Before(until) {
		m.Delete(k)
		return
	}
	if m.m == nil {
		m.m = make(map[K]*entry[K, V])
		m.root.next, m.root.prev = &m.root, &m.root
	}
	e, ok := m.m[k]
	if !ok {
		if m.max > 0 && len(m.m) >= m.max {
			m.Sweep(now)
			for len(m.m) >= m.max {
				m.remove(m.root.prev)
			}
		}
		if e = m.spare; e != nil {
			m.spare = nil
		} else {
			e = &entry[K, V]{index: -1}
		}
		e.key = k
		m.m[k] = e
		m.insertAfter(e, &m.root)
	} else {
		m.toFront(e)
	}
	e.val, e.used = v, now
	m.setDeadline(e, until)
}

// Delete forgets k.
func (m *Map[K, V]) Delete(k K) {
	if e, ok := m.m[k]; ok {
		m.remove(e)
	}
}

// DeleteFunc forgets every entry, live or dead, for which del returns
// true, and says how many went. It visits them all: for a caller whose
// entries also die of something only it can judge.
func (m *Map[K, V]) DeleteFunc(del func(K, V) bool) int {
	n := 0
	for k, e := range m.m {
		if del(k, e.val) {
			m.remove(e)
			n++
		}
	}
	return n
}

// Len is the number of entries held, counting dead ones not yet swept.
func (m *Map[K, V]) Len() int { return len(m.m) }

// Sweep drops the entries dead at now and says how many went. It costs
// what it frees, not the size of the map, provided the clock readings a
// Map is given do not go backwards; an entry a backwards clock makes it
// miss is still never returned, and goes at a later sweep or eviction.
func (m *Map[K, V]) Sweep(now time.Time) int {
	if m.m == nil {
		return 0
	}
	n := 0
	if m.ttl > 0 {
		for e := m.root.prev; e != &m.root && now.Sub(e.used) > m.ttl; e = m.root.prev {
			m.remove(e)
			n++
		}
	}
	for len(m.deadlines) > 0 && !now.Before(m.deadlines[0].until) {
		m.remove(m.deadlines[0])
		n++
	}
	return n
}

// Clear forgets every entry.
func (m *Map[K, V]) Clear() {
	if m.m == nil {
		return
	}
	clear(m.m)
	m.root.next, m.root.prev = &m.root, &m.root
	clear(m.deadlines)
	m.deadlines = m.deadlines[:0]
}

// live returns k's entry if it is alive at now, dropping it if dead.
func (m *Map[K, V]) live(k K, now time.Time) *entry[K, V] {
	e, ok := m.m[k]
	if !ok {
		return nil
	}
	if (!e.until.IsZero() && !now.Before(e.until)) || (m.ttl > 0 && now.Sub(e.used) > m.ttl) {
		m.remove(e)
		return nil
	}
	return e
}

func (m *Map[K, V]) setDeadline(e *entry[K, V], until time.Time) {
	e.until = until
	switch {
	case until.IsZero() && e.index >= 0:
		heap.Remove(&m.deadlines, e.index)
	case until.IsZero():
	case e.index >= 0:
		heap.Fix(&m.deadlines, e.index)
	default:
		heap.Push(&m.deadlines, e)
	}
}

func (m *Map[K, V]) remove(e *entry[K, V]) {
	delete(m.m, e.key)
	e.prev.next, e.next.prev = e.next, e.prev
	if e.index >= 0 {
		heap.Remove(&m.deadlines, e.index)
	}
	*e = entry[K, V]{index: -1}
	m.spare = e
}

func (m *Map[K, V]) insertAfter(e, at *entry[K, V]) {
	e.prev, e.next = at, at.next
	at.next.prev = e
	at.next = e
}

func (m *Map[K, V]) toFront(e *entry[K, V]) {
	if m.root.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	m.insertAfter(e, &m.root)
}

// deadlineHeap is a container/heap of entries by deadline, soonest first.
type deadlineHeap[K comparable, V any] []*entry[K, V]

func (h deadlineHeap[K, V]) Len() int           { return len(h) }
func (h deadlineHeap[K, V]) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h deadlineHeap[K, V]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *deadlineHeap[K, V]) Push(x any) {
	e := x.(*entry[K, V])
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *deadlineHeap[K, V]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
