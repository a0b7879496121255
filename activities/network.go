package activities

import (
	"context"
	"fmt"

	"github.com/parry-soc/parry/actions"
)

// BlockIP implements network.block_ip.
func (a *Activities) BlockIP(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "network.block_ip", "network", a.Network, req)
	if err != nil {
		return actions.Result{}, err
	}
	ip := param(req, "ip")
	rule, err := a.Network.BlockIP(ctx, req.IdempotencyKey, ip, param(req, "comment"))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"rule_id": rule}, fmt.Sprintf("blocked %s (rule %s)", ip, rule)), nil
}

// UnblockIP implements network.unblock_ip.
func (a *Activities) UnblockIP(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "network.unblock_ip", "network", a.Network, req)
	if err != nil {
		return actions.Result{}, err
	}
	ip := param(req, "ip")
	removed, err := a.Network.UnblockIP(ctx, req.IdempotencyKey, ip)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	note := "unblocked " + ip
	if !removed {
		note = ip + " was not blocked"
	}
	return c.result(map[string]any{"removed": removed}, note), nil
}
