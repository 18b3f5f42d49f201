package jsoncheck

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest in any JSON document
// Weft reads (run input, signal payloads, task output, definitions). Most
// JSON libraries read 256 levels or more (Python's json module about 1,000
// before it runs out of stack), so what Weft stores every client can read
// back.
const MaxDepth = 256

// TextProblem is a problem with JSON text that the JSON grammar allows but
// Weft refuses: bytes that are not UTF-8, the NUL character, half of a
// UTF-16 surrogate pair, or nesting deeper than MaxDepth. Offset is the
// byte offset of the problem (0-based).
type TextProblem struct {
	Offset int
	Msg    string
}

func (p *TextProblem) Error() string { return fmt.Sprintf("byte %d: %s", p.Offset, p.Msg) }

// CheckText reports the first problem of data that a JSON parser would
// let through but that PostgreSQL, other JSON clients or the browser
// would not: invalid UTF-8 (Go's parser silently turns it into U+FFFD,
// while text kept as it came stays invalid), a \u0000 escape,
// an unpaired surrogate escape (\ud800), and nesting deeper than
// MaxDepth. It does not check the JSON syntax itself.
func CheckText(data []byte) *TextProblem {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &TextProblem{Offset: off, Msg: fmt.Sprintf("byte 0x%02x is not valid UTF-8; send the document encoded as UTF-8", data[off])}
	}
	depth := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case 0:
				return &TextProblem{Offset: i, Msg: "a NUL byte is not allowed in Weft's JSON; remove it"}
			case '\\':
				if i+1 < len(data) && data[i+1] == 'u' {
					if p := checkEscape(data, i); p != nil {
						return p
					}
					if high(data, i) {
						i += 6 // the low half was checked with it
					}
				}
				i++ // skip the escaped character
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return &TextProblem{Offset: i, Msg: fmt.Sprintf("arrays and objects nest more than %d levels deep here; flatten the document", MaxDepth)}
			}
		case '}', ']':
			depth--
		case 0:
			return &TextProblem{Offset: i, Msg: "a NUL byte is not allowed in Weft's JSON; remove it"}
		}
	}
	return nil
}

// unicodeEscape reads the \uXXXX escape at data[i:]; ok is false when it
// is not one.
func unicodeEscape(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

// high reports whether the escape at data[i:] is the high half of a
// surrogate pair.
func high(data []byte, i int) bool {
	r, ok := unicodeEscape(data, i)
	return ok && r >= 0xD800 && r < 0xDC00
}

// checkEscape checks the \u escape at data[i:].
func checkEscape(data []byte, i int) *TextProblem {
	r, ok := unicodeEscape(data, i)
	if !ok {
		return nil // a syntax error the parser reports
	}
	switch {
	case r == 0:
		return &TextProblem{Offset: i, Msg: `\u0000 (the NUL character) is not allowed in Weft's JSON; remove it`}
	case r >= 0xD800 && r < 0xDC00:
		if lo, ok := unicodeEscape(data, i+6); ok && lo >= 0xDC00 && lo < 0xE000 {
			return nil
		}
		return &TextProblem{Offset: i, Msg: fmt.Sprintf(`\u%s is the first half of a UTF-16 surrogate pair without its second half; encode the character whole`, data[i+2:i+6])}
	case r >= 0xDC00 && r < 0xE000:
		return &TextProblem{Offset: i, Msg: fmt.Sprintf(`\u%s is the second half of a UTF-16 surrogate pair without its first half; encode the character whole`, data[i+2:i+6])}
	}
	return nil
}
