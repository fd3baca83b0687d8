package manifest

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// GatewayDocument is a NATGateway as written: spec and status.
type GatewayDocument struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   Metadata       `yaml:"metadata"`
	Spec       GatewaySpec    `yaml:"spec"`
	Status     *GatewayStatus `yaml:"status,omitempty"`
}

// InterfaceDocument is a NetworkInterface as written.
type InterfaceDocument struct {
	APIVersion string        `yaml:"apiVersion"`
	Kind       string        `yaml:"kind"`
	Metadata   Metadata      `yaml:"metadata"`
	Spec       InterfaceSpec `yaml:"spec"`
}

// GatewayStatus is a gateway's status as written (IEP-4's ips and
// portsUsed, then the plan).
type GatewayStatus struct {
	IPs                      []GatewayIP        `yaml:"ips"`
	PortsPerNetworkInterface uint32             `yaml:"portsPerNetworkInterface"`
	PortsUsed                uint64             `yaml:"portsUsed"`
	Members                  []StatusMember     `yaml:"members,omitempty"`
	Unassigned               []StatusUnassigned `yaml:"unassigned,omitempty"`
	Drained                  []StatusBlock      `yaml:"drained,omitempty"`
	DrainedTotal             uint64             `yaml:"drainedTotal"`
	Generation               uint64             `yaml:"generation"`
}

// StatusMember is a member with its ports and addresses.
type StatusMember struct {
	NetworkInterface string          `yaml:"networkInterface"`
	IP               string          `yaml:"ip"` // the ips entry's name
	Ports            string          `yaml:"ports"`
	Addresses        []StatusAddress `yaml:"addresses"`
}

// StatusAddress is a member's translation of one family.
type StatusAddress struct {
	Family  string `yaml:"family"`
	Inside  string `yaml:"inside"`
	Outside string `yaml:"outside"`
}

// StatusUnassigned is a selected interface without ports.
type StatusUnassigned struct {
	NetworkInterface string `yaml:"networkInterface"`
	Reason           string `yaml:"reason"`
}

// StatusBlock is a drained block.
type StatusBlock struct {
	NetworkInterface string `yaml:"networkInterface"`
	Inside           string `yaml:"inside"`
	Outside          string `yaml:"outside"`
	Ports            string `yaml:"ports"`
}

// Marshal writes documents separated by "---".
func Marshal(docs ...any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return buf.Bytes(), nil
}
