package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
)

var tenantsHelp = helpDoc{
	usage: "callstream tenants [--json]",
	summary: "List each tenant's sources with their watermark, lag, state and owning replica, read from the\n" +
		"checkpoint topic and the replica group (CLUSTER_GROUP), not from any replica's memory. Tenants\n" +
		"are TENANTS, TENANTS_FILE or AZURE_TENANT_ID; checkpoints of tenants no longer configured are\n" +
		"listed as \"not configured\". Writes nothing.",
	sections: allSections,
}

func cmdTenants(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("tenants", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, tenantsHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{Problems: []string{fmt.Sprintf("tenants takes no arguments, got %q", fs.Args())}}
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	p, err := app.New(ctx, cfg, app.Options{Logger: app.NewLogger(cfg.Log.Level, cfg.Log.Format, stderr), Version: version})
	if err != nil {
		return err
	}
	rows, err := p.Tenants(ctx)
	if err != nil {
		return err
	}
	return app.WriteTenants(stdout, rows, *asJSON)
}
