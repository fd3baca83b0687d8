// Package config loads the agent's configuration with viper from, in
// rising precedence: defaults, a file (--config; YAML, TOML or JSON),
// environment variables CLOUDNAT_<KEY> (dots become underscores, e.g.
// CLOUDNAT_VPP_API_SOCKET) and command-line flags (--vpp.api_socket ...).
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Keys, in the file as nested tables (vpp: {api_socket: ...}).
const (
	KeyDataplane         = "dataplane"
	KeyVPPAPISocket      = "vpp.api_socket"
	KeyVPPStatsSocket    = "vpp.stats_socket"
	KeyKernelTable       = "kernel.table"
	KeyGRPCListen        = "grpc.listen"
	KeyGRPCToken         = "grpc.token"
	KeyGRPCTLSCert       = "grpc.tls.cert"
	KeyGRPCTLSKey        = "grpc.tls.key"
	KeyGRPCTLSClientCA   = "grpc.tls.client_ca"
	KeyStatePath         = "state.path"
	KeyLogLevel          = "log.level"
	KeyMetricsListen     = "metrics.listen"
	KeyReconcileInterval = "reconcile.interval"
	KeyInit              = "init"
	KeyLockDir           = "lock.dir"
)

// Defaults.
const (
	DefaultDataplane         = "auto"
	DefaultVPPAPISocket      = "/run/vpp/api.sock"
	DefaultVPPStatsSocket    = "/run/vpp/stats.sock"
	DefaultKernelTable       = "cloudnat"
	DefaultGRPCListen        = "unix:///run/cloudnat/agent.sock"
	DefaultStatePath         = "/var/lib/cloudnat/state.json"
	DefaultLogLevel          = "info"
	DefaultMetricsListen     = ""
	DefaultReconcileInterval = 30 * time.Second
	DefaultLockDir           = "/run/cloudnat"
)

// Config is the agent's configuration.
type Config struct {
	Dataplane         string // auto, vpp or kernel (or fake: in-memory, for tests)
	VPPAPISocket      string
	VPPStatsSocket    string
	KernelTable       string
	GRPCListen        string
	GRPCNetwork       string // "unix" or "tcp", from GRPCListen
	GRPCAddress       string // socket path or host:port, from GRPCListen
	GRPCToken         string
	TLSCert           string
	TLSKey            string
	TLSClientCA       string
	StatePath         string
	LogLevel          slog.Level
	MetricsListen     string
	ReconcileInterval time.Duration
	// Init allows a start with no recorded intent (state file missing or
	// "desired": null) although there is evidence of an earlier one.
	Init bool
	// LockDir holds the dataplane target locks.
	LockDir string
	// File is the configuration file read, if any.
	File string
}

// RegisterFlags adds the configuration flags (and --config) to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "configuration file (YAML, TOML or JSON)")
	fs.String(KeyDataplane, DefaultDataplane, "dataplane: auto, vpp or kernel")
	fs.String(KeyVPPAPISocket, DefaultVPPAPISocket, "VPP binary API socket")
	fs.String(KeyVPPStatsSocket, DefaultVPPStatsSocket, "VPP stats socket")
	fs.String(KeyKernelTable, DefaultKernelTable, "nf_tables table of the kernel dataplane")
	fs.String(KeyGRPCListen, DefaultGRPCListen, "gRPC listen address: unix:///path or host:port (TCP needs TLS or a token)")
	fs.String(KeyGRPCToken, "", "bearer token required on every gRPC call but health checks")
	fs.String(KeyGRPCTLSCert, "", "TLS certificate file (PEM)")
	fs.String(KeyGRPCTLSKey, "", "TLS key file (PEM)")
	fs.String(KeyGRPCTLSClientCA, "", "CA file (PEM) client certificates must chain to (mTLS)")
	fs.String(KeyStatePath, DefaultStatePath, "state file")
	fs.String(KeyLogLevel, DefaultLogLevel, "log level: debug, info, warn, error")
	fs.String(KeyMetricsListen, DefaultMetricsListen, "Prometheus metrics listen address, e.g. 127.0.0.1:9464 (empty: off)")
	fs.Duration(KeyReconcileInterval, DefaultReconcileInterval, "period of full reconciles (drift repair)")
	fs.Bool(KeyInit, false, "first start: accept a missing state file (or \"desired\": null) although a marker beside it\n"+
		"or cloudnat objects in the dataplane show intent existed; the agent then starts empty and removes them")
	fs.String(KeyLockDir, DefaultLockDir, "directory of the locks that let one agent only drive a kernel table or a VPP")
}

// Load reads the configuration; fs holds RegisterFlags' flags, parsed.
// env is the environment (os.Environ() form); nil means the process's.
// Precedence: flags set on the command line, environment, file, defaults.
func Load(fs *pflag.FlagSet, env []string) (Config, error) {
	v := viper.New()
	if env == nil {
		env = os.Environ()
	}
	envMap := map[string]string{}
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok {
			envMap[k] = val
		}
	}
	for _, key := range allKeys {
		if val, ok := envMap[EnvName(key)]; ok {
			v.Set(key, val)
		}
	}
	var file string
	if f := fs.Lookup("config"); f != nil {
		file = f.Value.String()
	}
	if file == "" {
		file = envMap["CLOUDNAT_CONFIG"]
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config: reading %s: %w", file, err)
		}
	}
	// Flags: only those set on the command line override; defaults come
	// from the flag definitions otherwise.
	for _, key := range allKeys {
		f := fs.Lookup(key)
		if f == nil {
			continue
		}
		v.SetDefault(key, f.DefValue)
		if f.Changed {
			v.Set(key, f.Value.String())
		}
	}
	return fromViper(v, file)
}

var allKeys = []string{
	KeyDataplane, KeyVPPAPISocket, KeyVPPStatsSocket, KeyKernelTable, KeyGRPCListen, KeyGRPCToken,
	KeyGRPCTLSCert, KeyGRPCTLSKey, KeyGRPCTLSClientCA, KeyStatePath, KeyLogLevel, KeyMetricsListen,
	KeyReconcileInterval, KeyInit, KeyLockDir,
}

// EnvName is the environment variable of a key: CLOUDNAT_VPP_API_SOCKET.
func EnvName(key string) string {
	return "CLOUDNAT_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func fromViper(v *viper.Viper, file string) (Config, error) {
	c := Config{
		Dataplane:      strings.ToLower(strings.TrimSpace(v.GetString(KeyDataplane))),
		VPPAPISocket:   v.GetString(KeyVPPAPISocket),
		VPPStatsSocket: v.GetString(KeyVPPStatsSocket),
		KernelTable:    v.GetString(KeyKernelTable),
		GRPCListen:     v.GetString(KeyGRPCListen),
		GRPCToken:      v.GetString(KeyGRPCToken),
		TLSCert:        v.GetString(KeyGRPCTLSCert),
		TLSKey:         v.GetString(KeyGRPCTLSKey),
		TLSClientCA:    v.GetString(KeyGRPCTLSClientCA),
		StatePath:      v.GetString(KeyStatePath),
		MetricsListen:  v.GetString(KeyMetricsListen),
		Init:           v.GetBool(KeyInit),
		LockDir:        v.GetString(KeyLockDir),
		File:           file,
	}
	var err error
	if c.ReconcileInterval, err = durationOf(v.Get(KeyReconcileInterval)); err != nil {
		return c, fmt.Errorf("config: %s: %w", KeyReconcileInterval, err)
	}
	if err := c.LogLevel.UnmarshalText([]byte(v.GetString(KeyLogLevel))); err != nil {
		return c, fmt.Errorf("config: %s: %q is not one of debug, info, warn, error", KeyLogLevel, v.GetString(KeyLogLevel))
	}
	return c, c.Validate()
}

func durationOf(x any) (time.Duration, error) {
	switch t := x.(type) {
	case time.Duration:
		return t, nil
	case string:
		return time.ParseDuration(t)
	case int:
		return time.Duration(t) * time.Second, nil
	case int64:
		return time.Duration(t) * time.Second, nil
	case float64:
		return time.Duration(t * float64(time.Second)), nil
	case nil:
		return DefaultReconcileInterval, nil
	}
	return 0, fmt.Errorf("%v is not a duration", x)
}

// Validate checks the configuration and fills GRPCNetwork/GRPCAddress.
func (c *Config) Validate() error {
	switch c.Dataplane {
	case "auto", "vpp", "kernel", "fake": // fake: in-memory, for tests and demos
	default:
		return fmt.Errorf("config: %s: %q is not one of auto, vpp, kernel", KeyDataplane, c.Dataplane)
	}
	if c.StatePath == "" {
		return fmt.Errorf("config: %s: required", KeyStatePath)
	}
	if c.LockDir == "" {
		return fmt.Errorf("config: %s: required", KeyLockDir)
	}
	if c.ReconcileInterval < time.Second {
		return fmt.Errorf("config: %s: %s is shorter than 1s", KeyReconcileInterval, c.ReconcileInterval)
	}
	network, addr, err := ParseListen(c.GRPCListen)
	if err != nil {
		return fmt.Errorf("config: %s: %w", KeyGRPCListen, err)
	}
	c.GRPCNetwork, c.GRPCAddress = network, addr
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", KeyGRPCTLSCert, KeyGRPCTLSKey)
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return fmt.Errorf("config: %s needs %s and %s", KeyGRPCTLSClientCA, KeyGRPCTLSCert, KeyGRPCTLSKey)
	}
	if network == "tcp" && c.TLSCert == "" && c.GRPCToken == "" {
		return fmt.Errorf("config: %s: refusing TCP address %s without TLS (%s, %s) or a bearer token (%s)",
			KeyGRPCListen, addr, KeyGRPCTLSCert, KeyGRPCTLSKey, KeyGRPCToken)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("config: %s: %q is not host:port", KeyMetricsListen, c.MetricsListen)
		}
	}
	return nil
}

// ParseListen splits a listen address: "unix:///path", "unix:path" or
// "unix:/path" → unix; "tcp://host:port", "host:port" → tcp.
func ParseListen(s string) (network, address string, err error) {
	switch {
	case s == "":
		return "", "", errors.New("empty address")
	case strings.HasPrefix(s, "unix://"):
		address = strings.TrimPrefix(s, "unix://")
		network = "unix"
	case strings.HasPrefix(s, "unix:"):
		address = strings.TrimPrefix(s, "unix:")
		network = "unix"
	case strings.HasPrefix(s, "tcp://"):
		address = strings.TrimPrefix(s, "tcp://")
		network = "tcp"
	case strings.HasPrefix(s, "/"):
		return "unix", s, nil
	default:
		address = s
		network = "tcp"
	}
	if network == "unix" {
		if address == "" {
			return "", "", fmt.Errorf("%q: empty socket path", s)
		}
		return network, address, nil
	}
	if _, _, err := net.SplitHostPort(address); err != nil {
		return "", "", fmt.Errorf("%q is neither unix:///path nor host:port", s)
	}
	return network, address, nil
}

// TLSConfig builds the server TLS configuration; nil when TLS is off.
func (c *Config) TLSConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("config: loading TLS key pair %s, %s: %w", c.TLSCert, c.TLSKey, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSClientCA != "" {
		pem, err := os.ReadFile(c.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", KeyGRPCTLSClientCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("config: %s: %s holds no PEM certificate", KeyGRPCTLSClientCA, c.TLSClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
