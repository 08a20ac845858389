// Package jsondepth measures how deeply JSON nests without parsing it:
// the body reader refuses deep requests before go-sdk sees them, and the
// tools' argument decoder applies go-sdk's own depth limit the same way.
package jsondepth

// Exceeds reports whether data nests objects and arrays deeper than most,
// skipping string contents. It stops at the first level past most, so a
// hostile body costs no more than reading that far.
func Exceeds(data []byte, most int) bool {
	var d int
	var inString, escaped bool
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			if d++; d > most {
				return true
			}
		case '}', ']':
			if d > 0 {
				d--
			}
		}
	}
	return false
}
