package upstream

import (
	"testing"
	"time"
)

func TestUploadTimeoutFormula(t *testing.T) {
	t.Parallel()
	c, err := New(Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 60 * time.Second},
		{1 << 20, 61 * time.Second},
		{10 << 20, 70 * time.Second},
		{512 << 10, 60*time.Second + 500*time.Millisecond},
	}
	for _, tt := range tests {
		if got := c.uploadTimeout(tt.n); got != tt.want {
			t.Errorf("uploadTimeout(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}
