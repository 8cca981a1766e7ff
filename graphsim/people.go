package graphsim

import "strconv"

// person is a tenant user or a resource account (auto attendant or call
// queue). upn, display and number hold JSON string literals, quotes and
// escapes included, rendered once so rows only copy bytes.
type person struct {
	id      string // Entra object id
	upn     string
	display string
	number  string // masked DID
	country string // ISO 3166-1 alpha-2
	au      string // administrative unit id, for beta rows
}

// name pairs a display form with the ASCII form tenants use in UPNs.
type name struct{ display, ascii string }

// culture is a pool of names. familyFirst cultures write the family name
// first with no space, as Chinese names are.
type culture struct {
	weight      int
	first, last []name
	familyFirst bool
	country     string
}

var cultures = []culture{
	{weight: 70, country: "US", first: []name{
		{"Richard", "richard"}, {"Emily", "emily"}, {"Zoë", "zoe"}, {"José", "jose"},
		{"Ørjan", "orjan"}, {"Åsa", "asa"}, {"Jürgen", "jurgen"}, {"María", "maria"},
		{"Iñaki", "inaki"}, {`Robert "Bob"`, "robert"}, {"Aisha", "aisha"}, {"Liam", "liam"},
		{"Björn", "bjorn"}, {"Chloé", "chloe"}, {"Siobhán", "siobhan"}, {"Łukasz", "lukasz"},
	}, last: []name{
		{"Malk", "malk"}, {"Ångström", "angstrom"}, {"Müller", "muller"}, {"Ås", "as"},
		{"García", "garcia"}, {"Peña", "pena"}, {"O'Brien", "obrien"}, {"Nguyen", "nguyen"},
		{"Søndergaard", "sondergaard"}, {"Öberg", "oberg"}, {"Smith", "smith"}, {"Dvořák", "dvorak"},
		{"Van der Berg", "vanderberg"}, {"Núñez", "nunez"},
	}},
	{weight: 10, country: "GR", first: []name{
		{"Σοφία", "sofia"}, {"Γιώργος", "giorgos"}, {"Ελένη", "eleni"}, {"Νίκος", "nikos"},
	}, last: []name{
		{"Παπαδοπούλου", "papadopoulou"}, {"Νικολάου", "nikolaou"}, {"Οικονόμου", "oikonomou"},
	}},
	{weight: 10, country: "AE", first: []name{
		{"محمد", "mohammed"}, {"فاطمة", "fatima"}, {"علي", "ali"}, {"ليلى", "layla"},
	}, last: []name{
		{"علي", "ali"}, {"حسن", "hassan"}, {"الحداد", "alhaddad"},
	}},
	{weight: 10, country: "CN", familyFirst: true, first: []name{
		{"雷", "lei"}, {"芳", "fang"}, {"伟", "wei"}, {"静", "jing"},
	}, last: []name{
		{"李", "li"}, {"王", "wang"}, {"张", "zhang"}, {"陈", "chen"},
	}},
}

// botNames are resource-account display names: some ASCII, some with
// punctuation, accents, an emoji outside the BMP and CJK text.
var botNames = []string{
	"Main Line Auto Attendant",
	"Support Queue",
	"Service Desk – Ørestad",
	"Empfang Zürich",
	"Support 📞 Line",
	"総合受付",
	`After-hours "Emergency" Queue`,
}

const numUsers = 400

// makePeople builds the tenant's users and resource accounts from the seed.
// Tenants keep UPNs unique by numbering repeats, and so does this.
func (s *Server) makePeople() (users, bots []person) {
	totalWeight := 0
	for _, c := range cultures {
		totalWeight += c.weight
	}
	seen := make(map[string]int)
	ph := func(k, field int) uint64 { return s.h(k*16+field, tagPeople) }
	for k := range numUsers {
		w := int(ph(k, 0) % uint64(totalWeight))
		var c culture
		for _, c = range cultures {
			if w < c.weight {
				break
			}
			w -= c.weight
		}
		f := c.first[ph(k, 1)%uint64(len(c.first))]
		l := c.last[ph(k, 2)%uint64(len(c.last))]
		display := f.display + " " + l.display
		local := f.ascii + "." + l.ascii
		if c.familyFirst {
			display = l.display + f.display
		}
		seen[local]++
		if n := seen[local]; n > 1 {
			local += strconv.Itoa(n)
		}
		users = append(users, person{
			id:      string(appendUUID(nil, uuidBits{ph(k, 3), ph(k, 4), 4})),
			upn:     jsonString(local + "@contoso.com"),
			display: jsonString(display),
			number:  jsonString(maskedDID(c.country, ph(k, 5))),
			country: c.country,
			au:      string(appendUUID(nil, uuidBits{ph(k%7, 6), ph(k%7, 7), 4})),
		})
	}
	for k, n := range botNames {
		bots = append(bots, person{
			display: jsonString(n),
			number:  jsonString(maskedDID("US", ph(numUsers+k, 5))),
			country: "US",
			au:      string(appendUUID(nil, uuidBits{ph(k%7, 6), ph(k%7, 7), 4})),
		})
	}
	return users, bots
}

// maskedDID renders a tenant phone number with its last three digits masked,
// as the Graph docs example shows.
func maskedDID(country string, h uint64) string {
	prefix := "+1425555"
	switch country {
	case "GR":
		prefix = "+30210555"
	case "AE":
		prefix = "+9714555"
	case "CN":
		prefix = "+86105555"
	}
	return prefix + strconv.Itoa(int(h%10)) + "***"
}

func jsonString(v string) string { return string(appendJSONString(nil, v)) }
