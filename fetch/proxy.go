package fetch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
)

// isHTML reports whether a Content-Type is HTML, which Graph never sends
// but proxies, gateways and captive portals in front of it do.
func isHTML(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// bodySummary describes a body that is not Graph's JSON, such as a proxy's
// HTML page, by its type, size and HTML title, without dumping it.
func bodySummary(body []byte, ct string) string {
	if ct == "" {
		ct = "no Content-Type"
	}
	s := fmt.Sprintf("%s, %d bytes", ct, len(body))
	if m := titleRE.FindSubmatch(body); m != nil {
		title := strings.Join(strings.Fields(string(m[1])), " ")
		if len(title) > 100 {
			title = title[:100] + "…"
		}
		if title != "" {
			s += ", title " + strconv.Quote(title)
		}
	}
	return s
}

// claimsChallenge returns the decoded claims of a continuous access
// evaluation challenge in WWW-Authenticate headers, such as
// `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3…"`,
// or "" when there is none or it is not valid JSON.
func claimsChallenge(headers []string) string {
	for _, h := range headers {
		_, rest, ok := strings.Cut(h, `claims="`)
		if !ok {
			continue
		}
		enc, _, ok := strings.Cut(rest, `"`)
		if !ok {
			continue
		}
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := e.DecodeString(enc); err == nil && json.Valid(b) {
				return string(bytes.TrimSpace(b))
			}
		}
	}
	return ""
}
