package tenants_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/tenants"
)

const (
	guidA = "8f2b7c1e-4d3a-4b5c-9e6f-0a1b2c3d4e5f"
	guidB = "11111111-2222-4333-8444-555555555555"
	appID = "3c9d1e2f-5a6b-4c7d-8e9f-101112131415"
)

func TestParseList(t *testing.T) {
	cases := []struct {
		in       string
		want     []string
		problems []string
	}{
		{in: guidA, want: []string{guidA}},
		{in: " " + strings.ToUpper(guidA) + " , contoso.onmicrosoft.com,", want: []string{guidA, "contoso.onmicrosoft.com"}},
		{in: "Fabrikam.COM", want: []string{"fabrikam.com"}},
		{in: guidA + "," + strings.ToUpper(guidA), problems: []string{guidA + " is listed twice"}},
		{in: "common, organizations,consumers", problems: []string{`"common" is Entra's multi-tenant alias`, `"organizations"`, `"consumers"`}},
		{in: "not-a-tenant,contoso, a..b.com", problems: []string{`"not-a-tenant"`, `"contoso"`, `"a..b.com"`}},
		{in: " , ", problems: []string{"lists no tenant"}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := tenants.ParseList(tc.in)
			if len(tc.problems) > 0 {
				var te *tenants.Error
				if !errors.As(err, &te) || len(te.Problems) != len(tc.problems) {
					t.Fatalf("err %v, want %d problems", err, len(tc.problems))
				}
				for i, w := range tc.problems {
					if !strings.Contains(te.Problems[i], w) {
						t.Errorf("problem %d %q does not mention %q", i, te.Problems[i], w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tn := range got {
				ids = append(ids, tn.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	full := `
tenants:
  - id: ` + guidA + `
    name: Contoso
    sources: [direct-routing, pstn]
    start: 2026-01-01T00:00:00Z
    topics: {pstn: contoso.pstn}
    clientId: ` + appID + `
    clientSecretFile: /secrets/contoso
  - id: fabrikam.onmicrosoft.com
    start: 2026-02-01
    certificateFile: /secrets/fabrikam.pem
    clientId: ` + appID + `
  - id: ` + guidB + `
`
	got, err := tenants.ParseFile([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := []tenants.Tenant{
		{ID: guidA, Name: "Contoso", Sources: []string{"direct-routing", "pstn"}, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Topics: map[string]string{"pstn": "contoso.pstn"}, ClientID: appID, ClientSecretFile: "/secrets/contoso"},
		{ID: "fabrikam.onmicrosoft.com", Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), ClientID: appID, CertificateFile: "/secrets/fabrikam.pem"},
		{ID: guidB},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if !got[0].OwnCredentials() || !got[1].OwnCredentials() || got[2].OwnCredentials() {
		t.Error("OwnCredentials does not follow clientId + secret/certificate")
	}

	cases := []struct {
		name     string
		yaml     string
		problems []string // each must be in the error, and nothing else
	}{
		{"not yaml", "tenants: [", []string{"not YAML"}},
		{"a list at the top", "- id: " + guidA, []string{"want a map with a tenants: list"}},
		{"no tenants key", "tenant:\n  - id: " + guidA, []string{`unknown key "tenant" at the top`, "no tenants: list"}},
		{"empty list", "tenants: []", []string{"lists no tenant"}},
		{"tenants not a list", "tenants: " + guidA, []string{"tenants: want a list"}},
		{"every problem at once", `
tenants:
  - name: no id
  - id: common
  - id: ` + guidA + `
    source: [pstn]
    sources: [pstn, teams-chat, pstn]
    start: yesterday
    topics: {pstn: "bad topic", nope: x}
    clientId: not-a-guid
    clientSecretFile: /a
    certificateFile: /b
  - id: ` + strings.ToUpper(guidA) + `
  - id: ` + guidB + `
    certificateFile: /c
`, []string{
			"tenant 1: id is required",
			`tenant 2: id "common" is Entra's multi-tenant alias`,
			`tenant 3 (` + guidA + `): unknown key "source"`,
			`tenant 3 (` + guidA + `): sources: unknown source "teams-chat"`,
			`tenant 3 (` + guidA + `): sources: "pstn" listed twice`,
			`tenant 3 (` + guidA + `): start "yesterday"`,
			`tenant 3 (` + guidA + `): topics: unknown source "nope"`,
			`tenant 3 (` + guidA + `): topics: pstn: "bad topic" is no Kafka topic name`,
			`tenant 3 (` + guidA + `): clientId "not-a-guid"`,
			`tenant 3 (` + guidA + `): clientSecretFile and certificateFile are both set`,
			"tenant 4: " + guidA + " is listed twice (first as tenant 3)",
			"tenant 5 (" + guidB + "): clientSecretFile or certificateFile needs clientId",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tenants.ParseFile([]byte(tc.yaml))
			var te *tenants.Error
			if !errors.As(err, &te) {
				t.Fatalf("err %v, want a *tenants.Error", err)
			}
			for _, w := range tc.problems {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in:\n%s", w, strings.Join(te.Problems, "\n"))
				}
			}
			if len(te.Problems) != len(tc.problems) {
				t.Errorf("%d problems, want %d:\n%s", len(te.Problems), len(tc.problems), strings.Join(te.Problems, "\n"))
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a, b, c := tenants.Tenant{ID: "a.com"}, tenants.Tenant{ID: "b.com"}, tenants.Tenant{ID: "c.com"}
	b2 := tenants.Tenant{ID: "b.com", Name: "B"}
	added, removed, changed := tenants.Diff([]tenants.Tenant{a, b}, []tenants.Tenant{b2, c})
	if !reflect.DeepEqual(added, []tenants.Tenant{c}) || !reflect.DeepEqual(removed, []tenants.Tenant{a}) || !reflect.DeepEqual(changed, []tenants.Tenant{b2}) {
		t.Fatalf("added %v removed %v changed %v", added, removed, changed)
	}
	if x, y, z := tenants.Diff([]tenants.Tenant{a}, []tenants.Tenant{a}); x != nil || y != nil || z != nil {
		t.Fatalf("the same list differs: %v %v %v", x, y, z)
	}
}
