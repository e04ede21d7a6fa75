// Package schema holds relay's PostgreSQL migrations, numbered
// NNN_name.up.sql and applied in order by the store package.
package schema

import "embed"

// Migrations are the *.up.sql files of this directory.
//
//go:embed *.up.sql
var Migrations embed.FS
