package devserver

import (
	"fmt"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
)

// ports are the concrete addresses of one server run.
type ports struct {
	frontend, history, matching, worker string
	ui                                  string // "" when the UI is disabled
}

// pickPorts resolves the frontend and UI addresses (port 0 = free port) and
// gives the internal services free loopback ports: nothing outside the
// process dials them, and fixed ports would collide between test
// processes.
func pickPorts(cfg Config) (ports, error) {
	var p ports
	var err error
	if p.frontend, err = listenAddr(cfg.Address); err != nil {
		return ports{}, fmt.Errorf("frontend address: %w", err)
	}
	for _, dst := range []*string{&p.history, &p.matching, &p.worker} {
		if *dst, err = listenAddr("127.0.0.1:0"); err != nil {
			return ports{}, err
		}
	}
	if cfg.UIAddress != "" {
		if p.ui, err = listenAddr(cfg.UIAddress); err != nil {
			return ports{}, fmt.Errorf("web ui address: %w", err)
		}
	}
	return p, nil
}

// staticHosts replaces ringpop: each service is its own single member.
func (p ports) staticHosts() map[primitives.ServiceName]static.Hosts {
	return map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(p.frontend),
		primitives.HistoryService:  static.SingleLocalHost(p.history),
		primitives.MatchingService: static.SingleLocalHost(p.matching),
		primitives.WorkerService:   static.SingleLocalHost(p.worker),
	}
}

func sqliteConfig(path string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		// Unprefixed: the plugin turns unknown keys into _pragma=k=v; the
		// "_journal_mode" form used by temporaltest is silently ignored.
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			// NORMAL: with WAL, durable across process crashes (SIGKILL),
			// only a power loss can drop the last transactions.
			"synchronous": "1",
		},
		// One connection shared by all services: more give SQLITE_BUSY.
		MaxConns:     1,
		MaxIdleConns: 1,
	}
}

func serviceConfig(addr string) config.Service {
	host, port, _ := splitAddr(addr) // produced by listenAddr
	return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: host}}
}

func serverConfig(sqlCfg *config.SQL, p ports) *config.Config {
	return &config.Config{
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores: map[string]config.DataStore{
				sqliteplugin.PluginName: {SQL: sqlCfg},
			},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             p.frontend,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			string(primitives.FrontendService): serviceConfig(p.frontend),
			string(primitives.HistoryService):  serviceConfig(p.history),
			string(primitives.MatchingService): serviceConfig(p.matching),
			string(primitives.WorkerService):   serviceConfig(p.worker),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The worker service's system workflows reach the frontend here.
		PublicClient: config.PublicClient{HostPort: p.frontend},
	}
}

// dynamicConfig holds the settings a one-process dev server needs; the
// figures are measured on a 2-core machine.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// At the default 20 polls/s each queue processor adds ~120 ms to
		// every workflow (~150 ms instead of ~30 ms end to end).
		dynamicconfig.TransferProcessorMaxPollRPS.Key():   1000,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():      1000,
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): 1000,
		dynamicconfig.OutboundProcessorMaxPollRPS.Key():   1000,
		// The 20 s default occasionally stalled run.Get for 20 s.
		dynamicconfig.HistoryLongPollExpirationInterval.Key(): 2 * time.Second,
		// Parry drives playbooks through Updates.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		// Search attributes added at start are usable at once.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// The UI and `parry` list workflows; the default of 10/s throttles
		// a UI page that refreshes several lists.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
}
