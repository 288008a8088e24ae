//go:build tools

// Package tools pins the pulumi CLI the sandbox and the real-engine tests drive, built from the Go module
// proxy by scripts/engine.sh: pkg/v3's own go.mod has replace directives, so `go install …@version` refuses it
// and the build needs a main module of its own (this one, its go.sum verifying every download).
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
