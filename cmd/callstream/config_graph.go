package main

import (
	"net/url"
	"strings"

	"github.com/callstream/callstream/fetch"
)

// rawGraph holds the Microsoft Graph settings.
type rawGraph struct {
	Cloud       string `env:"GRAPH_CLOUD, default=global"`
	BaseURL     string `env:"GRAPH_BASE_URL"`
	APIVersion  string `env:"GRAPH_API_VERSION, default=v1.0"`
	AccessToken string `env:"GRAPH_ACCESS_TOKEN"`
	MaxAttempts string `env:"GRAPH_MAX_ATTEMPTS, default=8"`
}

// GraphConfig is how Graph is reached.
type GraphConfig struct {
	Cloud      fetch.Cloud
	BaseURL    string // the Graph root actually used (the cloud's, or GRAPH_BASE_URL)
	APIVersion string
	// AccessToken, when set, is used as is instead of an Entra credential.
	AccessToken string
	MaxAttempts int
}

func (r rawGraph) parse(p *problems) GraphConfig {
	var c GraphConfig
	cloud, err := fetch.LookupCloud(r.Cloud)
	if err != nil {
		p.add("GRAPH_CLOUD: %v", err)
	}
	c.Cloud = cloud
	c.BaseURL = cloud.GraphURL
	if r.BaseURL != "" {
		u, err := url.Parse(r.BaseURL)
		switch {
		case err != nil:
			p.add("GRAPH_BASE_URL: %v", err)
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
			p.add("GRAPH_BASE_URL %q: want an absolute http(s) URL such as https://graph.microsoft.com", r.BaseURL)
		case u.Path != "" && u.Path != "/":
			p.add("GRAPH_BASE_URL %q: give the Graph root without a path; the version comes from GRAPH_API_VERSION", r.BaseURL)
		default:
			c.BaseURL = strings.TrimRight(r.BaseURL, "/")
		}
	}
	switch r.APIVersion {
	case "v1.0", "beta":
		c.APIVersion = r.APIVersion
	default:
		p.add("GRAPH_API_VERSION %q: want v1.0 or beta", r.APIVersion)
	}
	c.AccessToken = strings.TrimSpace(r.AccessToken)
	c.MaxAttempts = parsePositiveInt(p, "GRAPH_MAX_ATTEMPTS", r.MaxAttempts)
	return c
}
