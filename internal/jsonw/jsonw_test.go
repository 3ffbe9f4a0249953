package jsonw

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSecondsMillis: the fixed-point writers against fmt, on edges and
// random values.
func TestSecondsMillis(t *testing.T) {
	vals := []int64{0, 1, 999, 1000, 999999, 1e6, 1e9 - 1, 1e9, 1795681125506056789, -1, -1500, -1e9 - 1}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, r.Int64N(1<<62)-1<<61)
	}
	for _, ns := range vals {
		us := ns / 1000
		sign := ""
		if ns < 0 {
			sign, us = "-", -ns/1000
		}
		if got, want := string(Seconds(nil, ns)), fmt.Sprintf("%s%d.%06d", sign, us/1e6, us%1e6); got != want {
			t.Fatalf("Seconds(%d) = %s, want %s", ns, got, want)
		}
		if got, want := string(Millis(nil, ns)), fmt.Sprintf("%s%d.%03d", sign, us/1000, us%1000); got != want {
			t.Fatalf("Millis(%d) = %s, want %s", ns, got, want)
		}
	}
}

func BenchmarkSeconds(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := 0; b.Loop(); i++ {
		buf = Seconds(buf[:0], 1795681125506056789+int64(i)*1237)
	}
}
