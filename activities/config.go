package activities

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/parry-soc/parry/activities/evidence"
	"github.com/parry-soc/parry/activities/lab"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/notify"
)

// Provider families, as Config.Providers and the PARRY_<FAMILY>_PROVIDER variables name them.
const (
	FamilyEDR       = "edr"
	FamilyIdentity  = "identity"
	FamilyNetwork   = "network"
	FamilyEmail     = "email"
	FamilyEvidence  = "evidence"
	FamilySandbox   = "sandbox"
	FamilyIntel     = "intel"
	FamilyDirectory = "directory"
)

// Families lists the provider families.
var Families = []string{FamilyEDR, FamilyIdentity, FamilyNetwork, FamilyEmail, FamilyEvidence, FamilySandbox, FamilyIntel, FamilyDirectory}

// Defaults of Config.
const (
	DefaultProvider    = lab.Name
	DefaultLabState    = ".parry/lab-state.json"
	DefaultEvidenceDir = ".parry/evidence"
)

// Config chooses and configures the providers.
type Config struct {
	// Provider is the provider of every family without its own entry in Providers (default "lab").
	Provider string
	// Providers overrides Provider per family (keys: the Family* constants), e.g. {"sandbox": "cape"}.
	Providers map[string]string
	// LabFixture is the lab's fixture file; "" is the embedded default.
	LabFixture string
	// LabState is the lab's state file (default .parry/lab-state.json).
	LabState string
	// LabTick overrides the fixture's tick, the wall time of one simulated second; 0 keeps the fixture's.
	LabTick time.Duration
	// EvidenceDir is the root of the filesystem evidence store (default .parry/evidence).
	EvidenceDir string
	// Logger receives the activities' own logs and, with the log notifier, run events (default
	// slog.Default()).
	Logger *slog.Logger
	// Notifier delivers run events; nil is the Slack notifier when Slack.BotToken is set, else the log
	// notifier.
	Notifier notify.Notifier
	// Directory resolves approver groups; nil is Slack's user groups when Slack.BotToken is set and no
	// directory provider is named, else the directory provider's (the lab: its fixture's groups).
	Directory Directory
	// Slack configures the Slack notifier and directory (SLACK_BOT_TOKEN, SLACK_API_URL,
	// PARRY_ONCALL_GROUP, PARRY_SLACK_CHANNEL). Without a bot token Parry does not talk to Slack.
	Slack slackapp.Config
}

// Slack's directory implements Directory.
var _ Directory = (*slackapp.Directory)(nil)

// FromEnv reads a Config from the environment: PARRY_PROVIDER, PARRY_<FAMILY>_PROVIDER (e.g.
// PARRY_SANDBOX_PROVIDER), PARRY_LAB_FIXTURE, PARRY_LAB_STATE, PARRY_EVIDENCE_DIR, and Slack's
// SLACK_BOT_TOKEN, SLACK_API_URL, PARRY_ONCALL_GROUP and PARRY_SLACK_CHANNEL. Unset variables keep the
// defaults New applies.
func FromEnv(getenv func(string) string) Config {
	cfg := Config{
		Provider:    strings.TrimSpace(getenv("PARRY_PROVIDER")),
		LabFixture:  getenv("PARRY_LAB_FIXTURE"),
		LabState:    getenv("PARRY_LAB_STATE"),
		EvidenceDir: getenv("PARRY_EVIDENCE_DIR"),
		Slack:       slackapp.ConfigFromEnv(getenv),
	}
	for _, f := range Families {
		if v := strings.TrimSpace(getenv("PARRY_" + strings.ToUpper(f) + "_PROVIDER")); v != "" {
			if cfg.Providers == nil {
				cfg.Providers = map[string]string{}
			}
			cfg.Providers[f] = v
		}
	}
	return cfg
}

// provider returns the provider name of a family.
func (cfg Config) provider(family string) string {
	if p := cfg.Providers[family]; p != "" {
		return p
	}
	if cfg.Provider != "" {
		return cfg.Provider
	}
	return DefaultProvider
}

// New builds the activities with the providers cfg names. Each family picks its adapter by name below;
// a vendor adapter slots in as one more case.
func New(cfg Config) (*Activities, error) {
	for f := range cfg.Providers {
		if !slices.Contains(Families, f) {
			return nil, fmt.Errorf("configure activities: unknown provider family %q (families: %s)", f, strings.Join(Families, ", "))
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LabState == "" {
		cfg.LabState = DefaultLabState
	}
	if cfg.EvidenceDir == "" {
		cfg.EvidenceDir = DefaultEvidenceDir
	}

	// The lab is one simulated enterprise behind every family that uses it, opened once.
	var simulator *lab.Lab
	openLab := func() (*lab.Lab, error) {
		if simulator != nil {
			return simulator, nil
		}
		l, err := lab.New(lab.Config{Fixture: cfg.LabFixture, State: cfg.LabState, Tick: cfg.LabTick})
		if err != nil {
			return nil, fmt.Errorf("configure lab provider: %w", err)
		}
		simulator = l
		return l, nil
	}

	a := &Activities{Logger: cfg.Logger}
	var err error
	if a.EDR, err = newEDR(cfg.provider(FamilyEDR), openLab); err != nil {
		return nil, err
	}
	if a.Identity, err = newIdentity(cfg.provider(FamilyIdentity), openLab); err != nil {
		return nil, err
	}
	if a.Network, err = newNetwork(cfg.provider(FamilyNetwork), openLab); err != nil {
		return nil, err
	}
	if a.Email, err = newEmail(cfg.provider(FamilyEmail), openLab); err != nil {
		return nil, err
	}
	if a.Evidence, err = newEvidence(cfg.provider(FamilyEvidence), openLab); err != nil {
		return nil, err
	}
	if a.Sandbox, err = newSandbox(cfg.provider(FamilySandbox), openLab); err != nil {
		return nil, err
	}
	if a.Intel, err = newIntel(cfg.provider(FamilyIntel), openLab); err != nil {
		return nil, err
	}
	if cfg.Slack.Logger == nil {
		cfg.Slack.Logger = cfg.Logger
	}
	a.Directory = cfg.Directory
	if a.Directory == nil && cfg.Slack.BotToken != "" && cfg.Providers[FamilyDirectory] == "" {
		// With Slack configured, approver groups are Slack user groups unless a directory is named.
		if a.Directory, err = slackapp.NewDirectory(cfg.Slack); err != nil {
			return nil, err
		}
	}
	if a.Directory == nil {
		if a.Directory, err = newDirectory(cfg.provider(FamilyDirectory), openLab); err != nil {
			return nil, err
		}
	}
	if a.Store, err = evidence.New(cfg.EvidenceDir); err != nil {
		return nil, err
	}
	a.Notifier = cfg.Notifier
	if a.Notifier == nil && cfg.Slack.BotToken != "" {
		if a.Notifier, err = slackapp.New(cfg.Slack); err != nil {
			return nil, err
		}
	}
	if a.Notifier == nil {
		a.Notifier = NewLogNotifier(cfg.Logger)
	}
	if simulator != nil {
		cfg.Logger.Info("lab provider: a simulated enterprise, nothing real is touched",
			"fixture", simulator.Fixture().Source(), "state", simulator.StatePath(), "evidence", cfg.EvidenceDir)
	}
	return a, nil
}

// One constructor per family: each switches on the provider name. A vendor adapter is one more case.
// (On error the interface returned may hold a nil pointer; callers look at the error first.)

func newEDR(name string, openLab func() (*lab.Lab, error)) (EDR, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyEDR, name)
}

func newIdentity(name string, openLab func() (*lab.Lab, error)) (Identity, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyIdentity, name)
}

func newNetwork(name string, openLab func() (*lab.Lab, error)) (Network, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyNetwork, name)
}

func newEmail(name string, openLab func() (*lab.Lab, error)) (Email, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyEmail, name)
}

func newEvidence(name string, openLab func() (*lab.Lab, error)) (Evidence, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyEvidence, name)
}

func newSandbox(name string, openLab func() (*lab.Lab, error)) (Sandbox, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilySandbox, name)
}

func newIntel(name string, openLab func() (*lab.Lab, error)) (Intel, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyIntel, name)
}

func newDirectory(name string, openLab func() (*lab.Lab, error)) (Directory, error) {
	switch name {
	case lab.Name:
		return openLab()
	}
	return nil, unknownProvider(FamilyDirectory, name)
}

func unknownProvider(family, name string) error {
	return fmt.Errorf("configure %s: unknown provider %q (known: %s)", family, name, lab.Name)
}
