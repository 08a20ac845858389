package jsondepth

import (
	"strings"
	"testing"
)

func TestExceeds(t *testing.T) {
	for _, tc := range []struct {
		data string
		most int
		want bool
	}{
		{`{}`, 1, false},
		{`{"a":[1]}`, 1, true},
		{`{"a":[1]}`, 2, false},
		{`"[[[[[["`, 1, false},       // brackets inside a string
		{`{"a":"\"[[[["}`, 1, false}, // an escaped quote does not end the string
		{`]]]]{}`, 1, false},         // stray closers do not go negative
		{strings.Repeat("[", 10001), 10000, true},
		{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), 10000, false},
	} {
		if got := Exceeds([]byte(tc.data), tc.most); got != tc.want {
			t.Errorf("Exceeds(%.20q, %d) = %v, want %v", tc.data, tc.most, got, tc.want)
		}
	}
}
