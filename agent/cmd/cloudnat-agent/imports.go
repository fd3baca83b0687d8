package main

// The dataplanes the agent can drive; each registers itself in package
// registry from its init function.
import (
	_ "github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	_ "github.com/cloudnat/cloudnat/agent/internal/dataplane/vpp"
)
