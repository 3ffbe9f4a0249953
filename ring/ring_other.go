//go:build !linux

package ring

// Ring is not available on this system.
type Ring struct{}

// Open returns ErrNotSupported.
func Open(cfg Config) ([]*Ring, int, error) { return nil, 0, ErrNotSupported }

// Check returns ErrNotSupported.
func Check(cfg Config) error { return ErrNotSupported }

// Poll returns ErrNotSupported.
func (r *Ring) Poll(timeoutMS int, fn func(*Packet)) error { return ErrNotSupported }

// Stats returns nothing.
func (r *Ring) Stats() (Stats, error) { return Stats{}, ErrNotSupported }

// Close does nothing.
func (r *Ring) Close() error { return nil }
