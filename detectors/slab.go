package detectors

// slab hands out T's by 4-byte handle (1-based; 0 is "none") from chunks
// that never move, and reuses freed ones. Per-connection state holds
// handles instead of pointers: half the size, and the connection slabs
// have no pointers for the garbage collector to scan. A handle's T keeps
// whatever it held when freed (buffers to reuse); callers reset it.
type slab[T any] struct {
	chunks [][]T
	free   []uint32
	n      uint32 // handles issued
}

// slabChunk is how many T's a slab allocates at once.
const slabChunk = 64

func (s *slab[T]) get() (uint32, *T) {
	if k := len(s.free); k > 0 {
		h := s.free[k-1]
		s.free = s.free[:k-1]
		return h, s.at(h)
	}
	if s.n%slabChunk == 0 {
		s.chunks = append(s.chunks, make([]T, slabChunk))
	}
	s.n++
	return s.n, s.at(s.n)
}

// at returns handle h's T (h != 0).
func (s *slab[T]) at(h uint32) *T {
	h--
	return &s.chunks[h/slabChunk][h%slabChunk]
}

func (s *slab[T]) put(h uint32) { s.free = append(s.free, h) }
