package graphsim

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ProxyContentType is the Content-Type of a Fault's HTML page.
const ProxyContentType = "text/html; charset=utf-8"

// appendProxyPage renders the kind of page a reverse proxy or an
// application gateway sends when Graph behind it fails: HTML, with the
// status in the title and nothing a JSON decoder can read.
func appendProxyPage(dst []byte, status int) []byte {
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	dst = append(dst, "<!DOCTYPE html>\r\n<html>\r\n<head><title>"...)
	dst = append(dst, title...)
	dst = append(dst, "</title></head>\r\n<body>\r\n<center><h1>"...)
	dst = append(dst, title...)
	dst = append(dst, "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"...)
	return dst
}

// validateLinkBase checks Config.ForeignNextLink: empty, or a scheme and a
// host with nothing after them.
func validateLinkBase(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return errors.New("graphsim: ForeignNextLink must be a scheme and host such as https://evil.example, got " + strconv.Quote(v))
	}
	return nil
}

// linkBase is the scheme and host nextLinks point at: the one the client
// called, unless Config.ForeignNextLink redirects them.
func (s *Server) linkBase(called string) string {
	if s.cfg.ForeignNextLink != "" {
		return strings.TrimRight(s.cfg.ForeignNextLink, "/")
	}
	return called
}
