// Package bench measures Parry on the embedded Temporal server: how soon containment starts after an alert
// is accepted, how many complete T1566.001 runs per second the dev default sustains, and what the playbook
// interpreter costs over a hand-written workflow doing the same activities. Run it with
//
//	go test -run '^$' -bench . -benchtime 40x ./internal/bench
//
// The figures in the README come from that command.
package bench
