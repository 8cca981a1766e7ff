package checkpoint

import "strings"

// tenantSep joins a data topic and a tenant in a scope. Kafka topic names
// cannot contain it, so the first one splits a scope unambiguously.
const tenantSep = "@"

// TenantScope is the scope of a tenant's lane on dataTopic:
// "<dataTopic>@<tenant>". A single-tenant deployment's scope is the data
// topic's name alone, as before tenants existed, so its checkpoints are
// found where they always were.
func TenantScope(dataTopic, tenant string) string {
	if tenant == "" {
		return dataTopic
	}
	return dataTopic + tenantSep + tenant
}

// SplitScope takes a scope made by TenantScope apart; tenant is empty for a
// single-tenant scope (a data topic's name alone).
func SplitScope(scope string) (dataTopic, tenant string) {
	dataTopic, tenant, _ = strings.Cut(scope, tenantSep)
	return dataTopic, tenant
}
