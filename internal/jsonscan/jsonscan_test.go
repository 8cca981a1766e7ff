package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// valid reports whether the whole of s is one JSON value by this package.
func valid[T Text](s T) bool {
	i := SkipSpace(s, 0)
	var end int
	var err error
	if i < len(s) && s[i] == '{' {
		end, _, err = Object(s, i, 0, nil)
	} else {
		end, err = Value(s, i, 0)
	}
	return err == nil && SkipSpace(s, end) == len(s)
}

var seeds = []string{
	`{"a":1,"b":[true,false,null,{"c":"d"}],"e":"\u00e9\n","f":-0.5e+7}`,
	`[]`, `{}`, ` { } `, `"x"`, `0`, `-0`, `01`, `1.`, `1e`, `-`, `tru`, `nul`,
	`{"a":}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `{"a":[}`, `"\x"`, `"\u12"`, "\"a\tb\"",
	`{"a":"b"} x`, `"é😀"`, "\"\xff\"", `{"\u0061":1,"a\\b":2}`,
}

// FuzzValid holds the scanner to encoding/json's verdict, for strings and
// byte slices alike.
func FuzzValid(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b)
		if got := valid(b); got != want {
			t.Fatalf("%q: valid %v, encoding/json %v", b, got, want)
		}
		if got := valid(string(b)); got != want {
			t.Fatalf("%q as a string: valid %v, encoding/json %v", b, got, want)
		}
	})
}

func TestValidSeeds(t *testing.T) {
	for _, s := range seeds {
		if got, want := valid(s), json.Valid([]byte(s)); got != want {
			t.Errorf("%q: valid %v, encoding/json %v", s, got, want)
		}
	}
}

// TestDepthLimit: encoding/json refuses nesting deeper than MaxDepth, and
// so does the scanner, objects and arrays alike.
func TestDepthLimit(t *testing.T) {
	for _, depth := range []int{MaxDepth - 1, MaxDepth, MaxDepth + 1} {
		arrays := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		objects := strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
		for _, s := range []string{arrays, objects} {
			if got, want := valid(s), json.Valid([]byte(s)); got != want {
				t.Errorf("depth %d %.8s…: valid %v, encoding/json %v", depth, s, got, want)
			}
		}
	}
}

// TestPlainRun checks the word-at-a-time search against the plain loop at
// every alignment.
func TestPlainRun(t *testing.T) {
	for _, stop := range []byte{'"', '\\', 0x00, 0x1f} {
		for n := range 20 {
			for _, fill := range []string{"a", "é"} {
				body := strings.Repeat(fill, n)[:n]
				s := body + string(stop) + "zzzzzzzz"
				i, ascii := PlainRun(s, 0)
				if i != n || ascii != (fill == "a" || n == 0) {
					t.Errorf("PlainRun(%q) = %d, %v; want %d, %v", s, i, ascii, n, fill == "a" || n == 0)
				}
			}
		}
	}
	if i, ascii := PlainRun("abc", 0); i != 3 || !ascii {
		t.Errorf("PlainRun to the end = %d, %v", i, ascii)
	}
}
